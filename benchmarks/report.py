"""Results -> a markdown report (targets, tables, ratios) and a PNG chart."""

from __future__ import annotations

import datetime
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from .concurrency import ConcurrencyResult
from .config import Config
from .conversion import CONVERTERS
from .stats import Summary, ratio
from .streaming import CANCEL_AFTER_CHUNKS, CANCEL_REPLY_DELAY, DISCONNECT_WAIT, Cancellation

PACKAGES = (
    "livekit-plugins-mistral",
    "livekit-agents",
    "livekit-plugins-mistralai",
    "mistralai",
    "aiohttp",
    "httpx",
    "pydantic",
)
FLOOR_OF = {"chat": "floor-framework", "conversation": "floor-framework-conv"}
if TYPE_CHECKING:
    from matplotlib.axes import Axes

OFFICIAL_OF = {
    "ours-normal": "official-chat",
    "ours-agent": "official-conv",
    "ours-model-conv": "official-conv",
}


@dataclass
class Results:
    config: Config
    labels: dict[str, str]
    endpoints: dict[str, str]
    cpu: dict[str, list[float]] = field(default_factory=dict)
    cpu_paced: dict[str, list[float]] = field(default_factory=dict)
    ttft_warm: dict[str, list[float]] = field(default_factory=dict)
    ttft_prewarm: dict[str, list[float]] = field(default_factory=dict)
    ttft_cold: dict[str, list[float]] = field(default_factory=dict)
    new_connections: dict[str, float] = field(default_factory=dict)
    cancel: dict[str, Cancellation] = field(default_factory=dict)
    concurrency: list[ConcurrencyResult] = field(default_factory=list)
    conversion: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    seconds: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)
    """1-minute load average when the run started and when it ended."""


@dataclass(frozen=True)
class Target:
    name: str
    goal: str
    measured: str
    met: bool


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "packages": ", ".join(versions),
    }


def _med(values: dict[str, list[float]], key: str) -> float:
    return Summary.of(values[key]).median


def _x(value: float) -> str:
    return f"{value:.2f}x" if value < 10 else f"{value:.0f}x"


def targets(r: Results) -> list[Target]:
    found: list[Target] = []
    for ours in OFFICIAL_OF:
        if ours not in r.cpu:
            continue
        floor = FLOOR_OF[r.endpoints[ours]]
        official = OFFICIAL_OF[ours]
        cpu_floor = ratio(_med(r.cpu, ours), _med(r.cpu, floor))
        found.append(
            Target(f"{ours}: CPU/chunk vs {floor}", "<= 1.25x", _x(cpu_floor), cpu_floor <= 1.25)
        )
        if official in r.cpu:
            gain = ratio(_med(r.cpu, official), _med(r.cpu, ours))
            found.append(
                Target(f"{ours}: CPU/chunk, {official} / ours", ">= 10x", _x(gain), gain >= 10)
            )
        if ours in r.ttft_warm:
            gap = _med(r.ttft_warm, ours) - _med(r.ttft_warm, floor)
            found.append(
                Target(f"{ours}: median TTFT - {floor}", "<= +1 ms", f"{gap:+.2f} ms", gap <= 1.0)
            )
        if ours in r.cancel and r.cancel[ours].seen_ms:
            cancel = r.cancel[ours]
            seen = Summary.of(cancel.seen_ms)
            ok = cancel.missed == 0 and seen.p90 <= 5.0
            measured = f"median {seen.median:.2f}, p90 {seen.p90:.2f}, max {seen.high:.2f} ms"
            if cancel.missed:
                measured += f", {cancel.missed} never seen"
            found.append(
                Target(f"{ours}: close -> server sees disconnect", "p90 <= 5 ms", measured, ok)
            )
        for result in r.concurrency:
            if result.key == ours:
                left = result.sockets_after_close
                found.append(
                    Target(
                        f"{ours}: sockets open after close",
                        "0",
                        str(left),
                        left == 0 and not result.error,
                    )
                )
    found += _conversion_targets(r)
    return found


def _conversion_targets(r: Results) -> list[Target]:
    found: list[Target] = []
    sizes = sorted(next(iter(r.conversion.values()), {}))
    if len(sizes) >= 2:
        mid, large = sizes[-2:]
        for key in ("ours-messages", "ours-agent"):
            if key not in r.conversion:
                continue
            # per item, fastest batch; history alone (the tool schemas are a constant)
            early = min(r.conversion[key][mid]) / mid
            late = min(r.conversion[key][large]) / large
            growth = ratio(late, early)
            found.append(
                Target(
                    f"{key}: conversion linear (us per item at {large:,} vs at {mid:,};"
                    " fastest batch)",
                    "<= 1.5x",
                    f"{late:.1f} vs {early:.1f} us ({_x(growth)})",
                    growth <= 1.5,
                )
            )
    if sizes:
        largest = sizes[-1]
        pairs = (
            ("ours-normal", "official-chat"),
            ("ours-normal-bytes", "official-chat-bytes"),
            ("ours-agent", "official-conv"),
            ("ours-messages", "official-messages"),
        )
        for ours, official in pairs:
            if ours in r.conversion and official in r.conversion:
                a = min(r.conversion[ours][largest])
                b = min(r.conversion[official][largest])
                found.append(
                    Target(
                        f"conversion at {largest:,} items: {ours} vs {official} (fastest batch)",
                        "<= 1.00x",
                        f"{a / 1000:.1f} vs {b / 1000:.1f} ms ({_x(ratio(a, b))})",
                        a <= b,
                    )
                )
    return found


# -- markdown ----------------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _cpu_section(r: Results) -> list[str]:
    c = r.config
    rows = []
    for key, values in r.cpu.items():
        s = Summary.of(values)
        floor = FLOOR_OF[r.endpoints[key]]
        row = [
            r.labels[key],
            r.endpoints[key],
            f"**{s.median:.1f}**",
            s.spread(),
            _x(ratio(s.median, _med(r.cpu, floor))) if floor in r.cpu else "-",
            _x(ratio(s.median, _med(r.cpu, "ours-normal"))) if "ours-normal" in r.cpu else "-",
        ]
        if key in r.cpu_paced:
            paced = Summary.of(r.cpu_paced[key])
            vs_floor = ratio(paced.median, _med(r.cpu_paced, floor))
            row += [f"{paced.median:.1f}", paced.spread(), _x(vs_floor)]
        rows.append(row)
    header = [
        "contender",
        "stream",
        "burst: us/chunk (median)",
        "spread",
        "x its framework floor",
        "x ours (normal)",
        "paced: us/chunk (median)",
        "spread",
        "x its framework floor",
    ]
    return [
        "### CPU per streamed chunk (client process only)",
        "",
        f"Burst: {c.cpu_samples} answers of {c.chunks:,} chunks each ({c.cpu_heavy_samples} for"
        " the official plugin and the SDK, at about 2 s of CPU each), written by the server as"
        " fast as it can, so one socket read brings many events (the harder test of per-event"
        f" parsing). Paced: {c.paced_samples} answers ({c.paced_heavy_samples}) of"
        f" {c.paced_chunks:,} chunks, {c.paced_delay * 1e3:g} ms apart, so each event arrives"
        " in its own read as tokens do from the live API (adds the per-read and per-wake-up"
        " cost every client pays). Each figure is the whole call's CPU divided by its chunks.",
        "",
        *_table(header, rows),
        "",
    ]


def _ttft_section(r: Results) -> list[str]:
    c = r.config
    rows = []
    for key, values in r.ttft_warm.items():
        s = Summary.of(values)
        floor = FLOOR_OF[r.endpoints[key]]
        gap = f"{s.median - _med(r.ttft_warm, floor):+.2f}" if floor in r.ttft_warm else "-"
        first = Summary.of(r.ttft_prewarm[key]).median if r.ttft_prewarm.get(key) else float("nan")
        cold = Summary.of(r.ttft_cold[key]).median if r.ttft_cold.get(key) else float("nan")
        rows.append(
            [
                r.labels[key],
                f"**{s.median:.2f}**",
                f"{s.p90:.2f}",
                gap,
                f"{first:.2f}",
                f"{cold:.2f}",
                f"{r.new_connections[key]:.1f}" if key in r.new_connections else "-",
            ]
        )
    header = [
        "contender",
        "warm median ms",
        "warm p90 ms",
        "median - its framework floor, ms",
        "first call after prewarm, median ms",
        "first call, no prewarm, median ms",
        "new TCP connections per warm call",
    ]
    return [
        f"### Time to first chunk on loopback ({c.ttft_calls} warm calls each; "
        f"{c.first_call_samples} fresh clients for the first-call columns)",
        "",
        *_table(header, rows),
        "",
    ]


def _cancel_section(r: Results) -> list[str]:
    rows = []
    for key, cancel in r.cancel.items():
        seen = Summary.of(cancel.seen_ms) if cancel.seen_ms else None
        closing = Summary.of(cancel.close_ms)
        rows.append(
            [
                r.labels[key],
                f"**{seen.median:.2f}**" if seen else "-",
                f"{seen.p90:.2f}" if seen else "-",
                f"{seen.high:.2f}" if seen else "-",
                f"{cancel.missed} / {cancel.missed + len(cancel.seen_ms)}",
                f"{closing.median:.2f}",
            ]
        )
    header = [
        "contender",
        "close -> server saw disconnect, median ms",
        "p90 ms",
        "max ms",
        f"not seen within {DISCONNECT_WAIT:g} s",
        "aclose() took, median ms",
    ]
    return [
        f"### Cancellation (close after {CANCEL_AFTER_CHUNKS} chunks of an answer paced at "
        f"{CANCEL_REPLY_DELAY * 1e3:g} ms per chunk)",
        "",
        *_table(header, rows),
        "",
    ]


def _concurrency_section(r: Results) -> list[str]:
    c = r.config
    rows = []
    for res in r.concurrency:
        growth = res.peak_mb - res.baseline_mb
        rows.append(
            [
                r.labels[res.key],
                f"{res.max_open}",
                f"{res.failed}",
                f"{res.retries}",
                f"{res.baseline_mb:.0f}",
                f"**{res.peak_mb:.0f}**",
                f"{growth:.1f}",
                f"{growth * 1024 / res.streams:.0f}",
                f"{res.pooled_sockets}",
                f"**{res.sockets_after_close}**",
                res.error or "",
            ]
        )
    header = [
        "contender",
        "max open at once",
        "failed",
        "retried attempts",
        "RSS before MB",
        "peak RSS MB",
        "growth MB",
        "KB per stream",
        "pooled sockets (client open)",
        "sockets after close",
        "first error",
    ]
    return [
        f"### {c.concurrent_streams} concurrent streams in one process "
        f"({c.concurrent_chunks} chunks each, paced at {c.concurrent_delay * 1e3:g} ms; "
        "a fresh process per contender)",
        "",
        *_table(header, rows),
        "",
    ]


def _conversion_section(r: Results) -> list[str]:
    sizes = sorted(next(iter(r.conversion.values()), {}))
    if not sizes:
        return []
    largest = sizes[-1]
    rows = []
    for key, by_size in r.conversion.items():
        medians = {size: Summary.of(by_size[size]).median for size in sizes}
        spread = Summary.of(by_size[largest])
        rows.append(
            [
                CONVERTERS[key][0],
                *[f"{medians[size] / 1000:.2f}" for size in sizes],
                f"{spread.low / 1000:.2f}-{spread.high / 1000:.2f}",
                f"{medians[largest] / largest:.1f}",
            ]
        )
    header = [
        "converter",
        *[f"{size:,} items, ms" for size in sizes],
        f"{largest:,} items, min-max ms",
        f"us per item at {largest:,}",
    ]
    return [
        "### ChatContext -> request conversion",
        "",
        "Histories of user and assistant turns, tool calls with their results and, every fifth"
        " user message, an image (URL or data URI); 3 function tools. Process CPU time per call,"
        " median of 7 batches taken in turns by all converters; the garbage collector is off"
        " while timing, as `timeit` does. The official plugin's own"
        " path is `to_provider_format` + `parse_function_tools`, then the SDK validates the"
        " messages into its pydantic request model and serializes it (the `SDK request bytes`"
        " row); ours builds the request bytes directly.",
        "",
        *_table(header, rows),
        "",
    ]


def _ratio_lines(r: Results) -> list[str]:
    lines = []
    pairs = [
        ("ours-normal", "floor-framework"),
        ("ours-normal", "official-chat"),
        ("ours-normal", "sdk"),
        ("ours-agent", "floor-framework-conv"),
        ("ours-agent", "official-conv"),
        ("ours-model-conv", "floor-framework-conv"),
        ("ours-model-conv", "official-conv"),
    ]
    for ours, other in pairs:
        if ours in r.cpu and other in r.cpu and ours in r.ttft_warm and other in r.ttft_warm:
            cpu = ratio(_med(r.cpu, other), _med(r.cpu, ours))
            ttft = ratio(_med(r.ttft_warm, other), _med(r.ttft_warm, ours))
            lines.append(
                f"- {r.labels[other]} / {r.labels[ours]}: CPU per chunk {_x(cpu)}, "
                f"warm TTFT {_x(ttft)}"
            )
    return lines


def markdown(r: Results, facts: dict[str, str], command: str) -> str:
    found = targets(r)
    target_rows = [[t.name, t.goal, t.measured, "met" if t.met else "**MISSED**"] for t in found]
    lines = [
        "# Benchmarks: this plugin vs livekit-plugins-mistralai, the mistralai SDK and two floors",
        "",
        f"- Run: {facts['date']}, `{command}`"
        + (" (SMOKE: tiny sizes, figures meaningless)" if r.config.smoke else ""),
        f"- Machine: {facts['cpu']}; {facts['os']}; {facts['python']}",
        f"- Packages: {facts['packages']}",
        "- Server: the bundled `LocalMistral` in its own process (`benchmarks/server_process.py`),"
        " the same scripted answers for every contender. Client CPU is `time.process_time()` of"
        " the client process alone, so no server work is counted.",
        f"- Whole run: {r.seconds:.0f} s; 1-minute load average {r.load[0]:.2f} at the start,"
        f" {r.load[1]:.2f} at the end ({os.cpu_count()} cores: above that, processes queued).",
        "",
        "### Targets",
        "",
        *_table(["target", "goal", "measured", ""], target_rows),
        "",
        "### Ratios (medians; how many times more the other one costs)",
        "",
        *_ratio_lines(r),
        "",
    ]
    if r.cpu:
        lines += _cpu_section(r)
    if r.ttft_warm:
        lines += _ttft_section(r)
    if r.cancel:
        lines += _cancel_section(r)
    if r.concurrency:
        lines += _concurrency_section(r)
    if r.conversion:
        lines += _conversion_section(r)
    return "\n".join(lines).rstrip() + "\n"


# -- chart -------------------------------------------------------------------------------------


def chart(r: Results, path: Path, facts: dict[str, str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [key for key in r.cpu if key in r.ttft_warm]
    labels = [r.labels[key] for key in keys]
    colors = [_color(key) for key in keys]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 0.55 * len(keys) + 2.2), sharey=True)
    positions = list(range(len(keys)))[::-1]

    cpu = [Summary.of(r.cpu[key]) for key in keys]
    paced = [Summary.of(r.cpu_paced[key]) for key in keys] if r.cpu_paced else []
    if paced:
        _bars(left, [p + 0.2 for p in positions], cpu, colors, "{:.0f} us", height=0.38)
        _bars(
            left, [p - 0.2 for p in positions], paced, colors, "{:.0f} us", height=0.38, alpha=0.45
        )
        left.set_title("solid: burst, light: paced (one event per read)", fontsize=9)
    else:
        _bars(left, positions, cpu, colors, "{:.0f} us")
    left.set_xscale("log")
    _fit(left, cpu + paced)
    left.set_xlabel("client CPU per streamed chunk, us (log scale)")
    left.set_yticks(positions, labels)

    ttft = [Summary.of(r.ttft_warm[key]) for key in keys]
    _bars(right, positions, ttft, colors, "{:.1f} ms")
    right.set_xscale("log")
    _fit(right, ttft)
    right.set_xlabel("time to first chunk, ms (log scale)")
    right.set_title(f"warm, {r.config.ttft_calls} calls each", fontsize=9)

    fig.suptitle(
        f"livekit-plugins-mistral benchmarks, {facts['date']}, {facts['cpu']}"
        " (bars: median, whiskers: p10-p90)",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _bars(
    axis: Axes,
    positions: Sequence[float],
    summaries: Sequence[Summary],
    colors: Sequence[str],
    fmt: str,
    *,
    height: float = 0.7,
    alpha: float = 1.0,
) -> None:
    medians = [s.median for s in summaries]
    low = [s.median - s.p10 for s in summaries]
    high = [s.p90 - s.median for s in summaries]
    axis.barh(
        positions,
        medians,
        height=height,
        color=colors,
        alpha=alpha,
        xerr=[low, high],
        capsize=2,
        ecolor="#555",
    )
    for y, s in zip(positions, summaries, strict=True):
        axis.text(s.p90 * 1.08, y, fmt.format(s.median), va="center", fontsize=8)
    axis.grid(axis="x", which="both", alpha=0.25)


def _fit(axis: Axes, summaries: Sequence[Summary]) -> None:
    """Room on a log axis for the shortest bar and the labels right of the longest."""
    axis.set_xlim(min(s.median for s in summaries) / 2, max(s.p90 for s in summaries) * 4)


def _color(key: str) -> str:
    if key.startswith("ours"):
        return "#2b7bba"
    if key.startswith("floor"):
        return "#9e9e9e"
    return "#e07b39"
