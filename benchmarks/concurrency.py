"""Many concurrent streams in one process: peak memory and sockets left open.

Peak RSS is a high-water mark of the whole process, so each contender runs in a fresh
subprocess (``python -m benchmarks.concurrency``) and reports one JSON line; the driver
queues the replies on the server first. RSS is sampled by a thread every 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import resource
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import psutil  # type: ignore[import-untyped]  # no stubs in the bench extra

from .contenders import BY_KEY, Contender
from .server_process import ServerProcess
from .streaming import queue_replies, story

SAMPLE_EVERY = 0.005
CLOSE_GRACE = 0.05


@dataclass
class ConcurrencyResult:
    key: str
    streams: int
    max_open: int
    """Most streams that had begun answering and not finished, at one moment."""
    failed: int
    """Streams that ended in an error."""
    retries: int
    """Attempts the client retried on its own (LiveKit contenders)."""
    baseline_mb: float
    """RSS after imports, client creation and one warm call."""
    peak_mb: float
    """Highest sampled RSS while the streams ran."""
    maxrss_mb: float
    """The kernel's high-water mark for the whole process (``ru_maxrss``)."""
    pooled_sockets: int
    """TCP connections to the server once every stream was closed, the client still open."""
    sockets_after_close: int
    """TCP connections to the server once the client was closed too (must be 0)."""
    seconds: float
    error: str = ""
    """The first failure, if any."""


class _RssSampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self._process = psutil.Process()
        self._halt = threading.Event()
        self.peak = self.rss()

    def rss(self) -> int:
        return int(self._process.memory_info().rss)

    def run(self) -> None:
        while not self._halt.wait(SAMPLE_EVERY):
            self.peak = max(self.peak, self.rss())

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return max(self.peak, self.rss())


def server_sockets(port: int) -> int:
    """This process's TCP connections to ``port``, in any state."""
    ports: list[int] = [
        c.raddr.port for c in psutil.Process().net_connections(kind="tcp") if c.raddr
    ]
    return ports.count(port)


async def _drain(stream_of: Contender, counters: dict[str, int]) -> None:
    started = False
    try:
        async for _ in stream_of.chunks():
            if not started:
                started = True
                counters["open"] += 1
                counters["max_open"] = max(counters["max_open"], counters["open"])
    finally:
        if started:
            counters["open"] -= 1


async def measure(key: str, base_url: str, streams: int) -> ConcurrencyResult:
    port = int(base_url.rsplit(":", 1)[1])
    contender = BY_KEY[key]()
    await contender.start(base_url)
    async for _ in contender.chunks():  # warm: imports resolved, pool opened
        pass
    gc.collect()
    retries_before = contender.retries
    baseline = psutil.Process().memory_info().rss
    sampler = _RssSampler()
    sampler.start()
    counters = {"open": 0, "max_open": 0}
    started = time.perf_counter()
    outcomes = await asyncio.gather(
        *(_drain(contender, counters) for _ in range(streams)), return_exceptions=True
    )
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    error = f"{type(failures[0]).__name__}: {failures[0]}" if failures else ""
    seconds = time.perf_counter() - started
    peak = sampler.stop()
    pooled = server_sockets(port)
    await contender.aclose()
    await asyncio.sleep(CLOSE_GRACE)  # transports finish closing on the next loop turns
    mb = 1024 * 1024
    return ConcurrencyResult(
        key=key,
        streams=streams,
        max_open=counters["max_open"],
        failed=len(failures),
        retries=contender.retries - retries_before,
        baseline_mb=baseline / mb,
        peak_mb=peak / mb,
        maxrss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        pooled_sockets=pooled,
        sockets_after_close=server_sockets(port),
        seconds=seconds,
        error=error,
    )


async def run_all(
    server: ServerProcess,
    keys: list[str],
    streams: int,
    chunks: int,
    delay: float,
    *,
    in_process: bool,
) -> list[ConcurrencyResult]:
    """Queue the replies, then run each contender in its own fresh process (``in_process``:
    all in this one, for the smoke run, where start-up time matters more than figures)."""
    reply = {"text": story(chunks), "delay": delay}
    results: list[ConcurrencyResult] = []
    for key in keys:
        await queue_replies(server, [BY_KEY[key]()], reply, streams + 1)
        if in_process:
            results.append(await measure(key, server.base_url, streams))
        else:
            results.append(await _in_subprocess(key, server.base_url, streams))
        await server.call("forget_requests")
    return results


async def _in_subprocess(key: str, base_url: str, streams: int) -> ConcurrencyResult:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.concurrency",
        "--base-url",
        base_url,
        "--streams",
        str(streams),
        key,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"the concurrency run of {key} failed ({proc.returncode})")
    return ConcurrencyResult(**json.loads(out.splitlines()[-1]))


async def _main(args: argparse.Namespace) -> None:
    for key in args.keys:
        result = await measure(key, args.base_url, args.streams)
        sys.stdout.write(json.dumps(asdict(result)) + "\n")
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.ERROR)  # a contender's retry warnings are counted instead
    parser = argparse.ArgumentParser(prog="python -m benchmarks.concurrency")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("keys", nargs="+", choices=sorted(BY_KEY))
    args: Any = parser.parse_args(argv)
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
