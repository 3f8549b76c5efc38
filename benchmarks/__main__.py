"""``python -m benchmarks [--smoke] [--out DIR] [--update]``: every contender, one run, one machine.

Starts the bundled local Mistral server in its own process, measures this plugin (both
modes), livekit-plugins-mistralai (both ``api_mode`` s), the raw mistralai SDK and two floors,
then prints a markdown report and writes it with a chart to ``benchmarks/results/``
(git-ignored). Only ``--update`` replaces the committed copies ``benchmarks/RESULTS.md`` and
``benchmarks/chart.png``, so a run to look at the figures leaves the checkout clean.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .config import FULL, SMOKE, Config
from .server_process import ServerProcess

if TYPE_CHECKING:
    from .report import Results

HERE = Path(__file__).resolve().parent


class _Progress:
    def __init__(self) -> None:
        self._start = time.perf_counter()

    def __call__(self, message: str) -> None:
        elapsed = time.perf_counter() - self._start
        print(f"[{elapsed:6.1f} s] {message}", file=sys.stderr, flush=True)


async def _streaming_phases(
    server: ServerProcess, cfg: Config, results: Results, say: _Progress
) -> None:
    from . import concurrency, streaming
    from .contenders import ALL, Contender, close_quietly

    contenders: list[Contender] = [factory() for factory in ALL]
    try:
        for contender in contenders:
            await contender.start(server.base_url)
        say(
            f"CPU per chunk: {cfg.cpu_samples} x {cfg.chunks:,}-chunk answers per contender "
            f"({cfg.cpu_heavy_samples} for the official plugin and the SDK)"
        )
        results.cpu = await streaming.cpu_per_chunk(
            server,
            contenders,
            cfg.chunks,
            cfg.cpu_samples,
            heavy_samples=cfg.cpu_heavy_samples,
            after_warmup=_freeze_heap,
        )
        say(
            f"CPU per chunk, paced: {cfg.paced_samples} x {cfg.paced_chunks:,}-chunk answers "
            f"at {cfg.paced_delay * 1e3:g} ms per chunk ({cfg.paced_heavy_samples} heavy)"
        )
        results.cpu_paced = await streaming.cpu_per_chunk(
            server,
            contenders,
            cfg.paced_chunks,
            cfg.paced_samples,
            heavy_samples=cfg.paced_heavy_samples,
            delay=cfg.paced_delay,
        )
        say(f"time to first chunk: {cfg.ttft_calls} warm calls per contender")
        results.ttft_warm = await streaming.warm_ttft(
            server, contenders, cfg.ttft_calls, cfg.ttft_chunks
        )
        results.new_connections = await streaming.new_connections_per_call(
            server, contenders, cfg.reuse_calls, cfg.ttft_chunks
        )
        say(f"cancellation: {cfg.cancel_samples} closes per contender")
        results.cancel = await streaming.cancellation(server, contenders, cfg.cancel_samples)
    finally:
        for contender in contenders:
            await close_quietly(contender)
    say(f"first call: {cfg.first_call_samples} fresh clients per contender, with/without prewarm")
    results.ttft_prewarm = await streaming.first_call_ttft(
        server, ALL, cfg.first_call_samples, cfg.ttft_chunks, prewarm=True
    )
    results.ttft_cold = await streaming.first_call_ttft(
        server, ALL, cfg.first_call_samples, cfg.ttft_chunks, prewarm=False
    )
    where = "in this process (smoke)" if cfg.smoke else "a fresh process per contender"
    say(f"{cfg.concurrent_streams} concurrent streams, {where}")
    results.concurrency = await concurrency.run_all(
        server,
        [factory.key for factory in ALL],
        cfg.concurrent_streams,
        cfg.concurrent_chunks,
        cfg.concurrent_delay,
        in_process=cfg.smoke,
    )


def _freeze_heap() -> None:
    """After the warm-up: move every long-lived object (imported modules, clients) out of the
    collector's reach, so a ``gc.collect()`` between samples is cheap and a full collection
    during one costs what it would in an agent process, not a scan of this harness's imports."""
    gc.collect()
    gc.freeze()


async def run(cfg: Config) -> Results:
    say = _Progress()
    started = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    say("starting the local Mistral server process")
    server = ServerProcess()
    await server.spawn()
    try:
        # the heavy imports (LiveKit, the SDK, pydantic models) overlap the server's own
        from . import conversion, sse_blocks
        from .contenders import ALL
        from .report import Results

        results = Results(
            config=cfg,
            labels={factory.key: factory.label for factory in ALL},
            endpoints={factory.key: factory.endpoint for factory in ALL},
        )
        await server.ready()
        await _streaming_phases(server, cfg, results, say)
    finally:
        await server.aclose()
    say(f"ChatContext conversion: histories of {', '.join(map(str, cfg.histories))} items")
    results.conversion = conversion.measure(cfg.histories, cfg.conversion_budget)
    sizes = ", ".join(f"{mib} MiB" for mib in cfg.large_events_mib)
    say(f"SSE decoder: one event of {sizes}, {cfg.large_event_samples} times each")
    results.large_events = sse_blocks.measure(cfg.large_events_mib, cfg.large_event_samples)
    results.seconds = time.perf_counter() - started
    results.load = (load_at_start, os.getloadavg()[0])
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks it all runs")
    parser.add_argument(
        "--out",
        type=Path,
        default=HERE / "results",
        help="where to write latest.md and chart.png (default: benchmarks/results/)",
    )
    parser.add_argument(
        "--update",
        action="store_true",
        help="also replace the committed benchmarks/RESULTS.md and benchmarks/chart.png",
    )
    args = parser.parse_args(argv)
    if args.update and args.smoke:
        parser.error("--update takes a full run: smoke figures are meaningless")
    logging.basicConfig(level=logging.ERROR)
    cfg = SMOKE if args.smoke else FULL
    results = asyncio.run(run(cfg))

    from .report import chart, machine, markdown

    facts = machine()
    command = "python -m benchmarks" + (" --smoke" if args.smoke else "")
    report = markdown(results, facts, command)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.md").write_text(report)
    chart(results, args.out / "chart.png", facts)
    print(report)
    if args.update:
        shutil.copyfile(args.out / "latest.md", HERE / "RESULTS.md")
        shutil.copyfile(args.out / "chart.png", HERE / "chart.png")


if __name__ == "__main__":
    main()
