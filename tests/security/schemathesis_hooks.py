"""schemathesis hooks for tests/security/test_openapi_fuzz.py.

A path parameter holding a newline or a slash matches no route at all: Starlette's
``Mount("/api")`` pattern stops at a newline, and ``%2F`` is a path separator once
decoded. Such requests get Starlette's own plain-text 404 rather than the API's JSON
error shape (see docs/security.md, "schemathesis"), so they are left out here. So is an
empty one (a link from a response whose id is empty, such as /widget/check's answer for
a page no touchpoint matches): the path then names the collection, whose other methods
answer 405.
"""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.hook
def filter_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> bool:
    return all(
        not isinstance(value, str) or (value != "" and not any(c in value for c in "\n/"))
        for value in (path_parameters or {}).values()
    )
