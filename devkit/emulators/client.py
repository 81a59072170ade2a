"""The tests' side of an emulator's control API."""

from __future__ import annotations

from typing import Any

import httpx


class EmulatorClient:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30.0) as http:
            r = await http.request(method, path, **kwargs)
        r.raise_for_status()
        return r.json()

    async def configure(self, **config: Any) -> Any:
        return await self._call("POST", "/_emulator/configure", json=config)

    async def phone_send(self, **message: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", "/_emulator/phone/send", json=message)
        return result

    async def phone_read(self, **which: Any) -> Any:
        return await self._call("POST", "/_emulator/phone/read", json=which)

    async def sent(self, at_least: int = 0, timeout: float = 10.0) -> list[dict[str, Any]]:
        """What was sent (accepted or refused); waits for ``at_least`` sends."""
        sent: list[dict[str, Any]] = await self._call(
            "GET", "/_emulator/sent", params={"min": at_least, "timeout": timeout}
        )
        if len(sent) < at_least:
            raise TimeoutError(f"{len(sent)} sends after {timeout}s, expected {at_least}: {sent}")
        return sent

    async def webhooks(self, *, settle: bool = True) -> list[dict[str, Any]]:
        hooks: list[dict[str, Any]] = await self._call(
            "GET", "/_emulator/webhooks", params={"settle": "1" if settle else ""}
        )
        return hooks

    async def fail(
        self, status: int, count: int = 1, body: dict[str, Any] | None = None, after: int = 0
    ) -> None:
        await self._call(
            "POST",
            "/_emulator/fail",
            json={"status": status, "count": count, "body": body or {}, "after": after},
        )

    async def retries(self, *delays: float) -> None:
        await self._call("POST", "/_emulator/retries", json={"delays": list(delays)})

    async def reset(self, *, configuration: bool = False) -> None:
        """Forget the sends and webhooks, and with ``configuration`` the accounts too."""
        params = {"configuration": "1"} if configuration else None
        await self._call("POST", "/_emulator/reset", params=params)

    async def unsubscribe(self, number: str) -> None:
        await self._call("POST", "/_emulator/unsubscribe", json={"number": number})
