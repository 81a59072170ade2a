"""A Meta touchpoint's access token as its deliveries use it: none is sent when no
request could carry it (stored before the settings check refused such values), and the
admins are told, by email too (every reply fails until an admin sets a new token), when
it cannot be sent or Meta refuses it (error 190)."""

from __future__ import annotations

from dataclasses import dataclass

from channels.base import Core
from channels.meta.graph import TOKEN_ERRORS
from gateway.model.records import Conversation, Touchpoint
from gateway.services.deliveries import Outcome, credential_problem, failed


@dataclass(frozen=True)
class AccessToken:
    platform: str  # "WhatsApp"
    setting: str  # the touchpoint setting holding it
    words: str  # what the admin calls it: "access token"
    fix: str  # what the admin does: "set a valid system user token in …"

    def of(self, tp: Touchpoint) -> str:
        return str(tp.settings.get(self.setting, ""))

    async def unusable(self, core: Core, tp: Touchpoint, conv: Conversation) -> Outcome | None:
        """The failed outcome of a delivery whose token no request can carry, or None."""
        problem = credential_problem(self.of(tp))
        if not problem:
            return None
        await self._notice(core, tp, conv, f"its {self.words} cannot be sent to Meta ({problem})")
        return failed(
            f"this touchpoint's {self.words} cannot be sent to {self.platform}:"
            " an admin must set it again"
        )

    async def answered(
        self, core: Core, tp: Touchpoint, conv: Conversation, code: int | None
    ) -> None:
        """Tell the admins when Meta's error ``code`` refused the token."""
        if code in TOKEN_ERRORS:
            await self._notice(core, tp, conv, f"Meta refused its {self.words} (error {code})")

    async def _notice(self, core: Core, tp: Touchpoint, conv: Conversation, what: str) -> None:
        await core.notices.notify(
            "provider_error",
            f"{self.platform} touchpoint {tp.name}: {what}; {self.fix}",
            touchpoint_id=tp.id,
            conversation_id=conv.id,
            email=True,
        )
