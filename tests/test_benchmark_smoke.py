"""``python -m benchmarks --smoke`` runs end to end and writes its report (speed is not tested)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("psutil", reason="the bench extra (psutil, matplotlib) is not installed")
pytest.importorskip("matplotlib", reason="the bench extra (psutil, matplotlib) is not installed")
pytest.importorskip(
    "livekit.plugins.mistralai", reason="livekit-plugins-mistralai is not installed"
)


def test_smoke_run_writes_the_report(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    report = (tmp_path / "latest.md").read_text()
    assert report == done.stdout.rstrip("\n") + "\n"  # what it printed is what it wrote
    for section in (
        "### Targets",
        "### CPU per streamed chunk",
        "### Time to first chunk",
        "### Cancellation",
        "concurrent streams in one process",
        "### ChatContext -> request conversion",
        "### Largest event-loop block while the SSE decoder takes in one large event",
    ):
        assert section in report
    for contender in (
        "this plugin, normal mode",
        "this plugin, agent mode",
        "livekit-plugins-mistralai, chat_completions",
        "livekit-plugins-mistralai, conversations",
        "mistralai SDK, chat.stream_async",
        "floor: aiohttp + json.loads",
        "floor: + bare LiveKit LLMStream",
    ):
        assert f"| {contender} |" in report
    assert "SMOKE" in report
    assert (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_update_needs_a_full_run() -> None:
    # the committed RESULTS.md and chart.png change only on --update, and never to smoke figures
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--update"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--update takes a full run" in done.stderr
