"""A webhook receiver for bench/automations.py: answers every POST after ``--delay``
seconds (0: at once) and counts them (``GET /count``)."""

from __future__ import annotations

import argparse
import asyncio

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    received = 0

    async def hook(request: Request) -> Response:
        nonlocal received
        await request.body()
        received += 1
        if args.delay:
            await asyncio.sleep(args.delay)
        return Response(status_code=204)

    async def count(request: Request) -> Response:
        return PlainTextResponse(str(received))

    app = Starlette(
        routes=[Route("/hooks", hook, methods=["POST"]), Route("/count", count, methods=["GET"])]
    )
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
