"""The bundled ``LocalMistral`` in its own process, scripted over stdin/stdout.

Running the server in a child process keeps the benchmark's client process clean: its
``time.process_time()`` counts only client work, and on a two-core machine server and client
each get a core. The driver talks to this process with one JSON object per line:

    {"op": "queue_chat", "reply": {<ChatReply fields>}, "count": 200}   -> {"ok": true}
    {"op": "queue_conversation", "reply": {<AgentReply fields>}, "count": 1} -> {"ok": true}
    {"op": "disconnects"}   -> {"ok": true, "disconnects": [[path, monotonic_at], ...]}
    {"op": "stats"}         -> {"ok": true, "requests": n, "open_streams": n, ...}
    {"op": "forget_requests"} -> {"ok": true}   (drop the recorded requests)
    {"op": "quit"}

``time.monotonic()`` is CLOCK_MONOTONIC on Linux, one clock for every process of the machine,
so the disconnect times reported here compare directly with the driver's own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported lazily: the driver spawns this process before its own heavy imports
    from livekit.plugins.mistral.testing import LocalMistral

API_KEY = "bench-key"
AGENT_ID = "ag_0680b7000e847f6e80003620e5d4d99d"


class ServerProcess:
    """The driver's side: start the child, send commands, read answers."""

    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None
        self.base_url = ""

    async def start(self) -> None:
        await self.spawn()
        await self.ready()

    async def spawn(self) -> None:
        """Start the child; it needs a few seconds of imports before it answers."""
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.server_process",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,
        )

    async def ready(self) -> None:
        """Wait until the child serves, and learn its address."""
        ready = await self._read()
        self.base_url = ready["base_url"]

    async def call(self, op: str, **fields: Any) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"op": op, **fields}).encode() + b"\n")
        await self._proc.stdin.drain()
        answer = await self._read()
        if not answer.get("ok"):
            raise RuntimeError(f"benchmark server refused {op!r}: {answer.get('error')}")
        return answer

    async def _read(self) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        line = await asyncio.wait_for(self._proc.stdout.readline(), 60)
        if not line:
            raise RuntimeError("the benchmark server process exited")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def aclose(self) -> None:
        if self._proc is None:
            return
        if self._proc.returncode is None and self._proc.stdin is not None:
            self._proc.stdin.write(b'{"op": "quit"}\n')
            await self._proc.stdin.drain()
            try:
                await asyncio.wait_for(self._proc.wait(), 10)
            except asyncio.TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        self._proc = None

    async def __aenter__(self) -> ServerProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _answer(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def _handle(server: LocalMistral, command: dict[str, Any], seen: list[int]) -> dict[str, Any]:
    from livekit.plugins.mistral.testing import AgentReply, ChatReply

    op = command.get("op")
    if op == "queue_chat":
        reply = ChatReply(**command["reply"])
        server.queue_chat(*[reply] * int(command.get("count", 1)))
    elif op == "queue_conversation":
        agent_reply = AgentReply(**command["reply"])
        server.queue_conversation(*[agent_reply] * int(command.get("count", 1)))
    elif op == "disconnects":
        fresh = server.disconnects[seen[0] :]
        seen[0] = len(server.disconnects)
        return {"ok": True, "disconnects": [[d.path, d.at] for d in fresh]}
    elif op == "stats":
        return {
            "ok": True,
            "requests": len(server.requests),
            "open_streams": server.open_streams,
            "connections_opened": server.connections_opened,
        }
    elif op == "forget_requests":
        server.requests.clear()  # thousands of recorded requests are of no use to a benchmark
    else:
        return {"ok": False, "error": f"unknown op {op!r}"}
    return {"ok": True}


async def _serve(port: int) -> None:
    from livekit.plugins.mistral.testing import LocalMistral

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with LocalMistral(api_key=API_KEY, port=port) as server:
        server.add_agent(AGENT_ID, name="bench")
        _answer({"ok": True, "base_url": server.base_url})
        seen = [0]
        while line := await reader.readline():
            command = json.loads(line)
            if command.get("op") == "quit":
                break
            try:
                _answer(_handle(server, command, seen))
            except Exception as e:  # a bad command must not kill the server mid-benchmark
                _answer({"ok": False, "error": f"{type(e).__name__}: {e}"})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.server_process")
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(_serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
