"""schemathesis hooks for tests/security/test_upload_fuzz.py: every generated upload is
sent as someone who may upload (the agent the conversation is assigned to, or its
visitor from their Origin), to that conversation, so that the generated names, query
strings and bytes reach the file checks instead of stopping at authentication."""

from __future__ import annotations

import json
import os
from typing import Any

import schemathesis

SESSION: dict[str, str] = json.loads(os.environ.get("GW_UPLOAD_FUZZ", "{}"))


@schemathesis.hook
def before_call(context: Any, case: Any, **kwargs: Any) -> None:
    path = case.operation.path
    headers = dict(case.headers or {})
    if path == "/api/conversations/{id}/attachments":
        case.path_parameters = {**(case.path_parameters or {}), "id": SESSION["conversation"]}
        headers["Authorization"] = f"Bearer {SESSION['agent_token']}"
    elif path == "/widget/attachments":
        headers["Authorization"] = f"Bearer {SESSION['visitor_token']}"
        headers["Origin"] = SESSION["origin"]
    case.headers = headers


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    """Each answer's status, for the test to see what the uploads reached."""
    with open(SESSION["statuses"], "a") as out:
        out.write(f"{case.operation.path} {response.status_code}\n")
