"""``python -m livekit.plugins.mistral.testing``: serve the local Mistral API until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from .server import LocalMistral


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m livekit.plugins.mistral.testing",
        description="Serve a local Mistral-compatible API (demo brain, no key, no network).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-key", default="test-key")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    async with LocalMistral(api_key=args.api_key, host=args.host, port=args.port) as server:
        print(f"Local Mistral API on {server.base_url} (Ctrl-C to stop)", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(_parse_args(argv)))


if __name__ == "__main__":
    main()
