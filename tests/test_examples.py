"""The examples run as a new user runs them: no key, the bundled server, a real process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MISTRAL_")}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_example_agent_usage_runs_without_a_key() -> None:
    out = run_example("example_agent_usage.py")
    assert "No MISTRAL_API_KEY: using the bundled local Mistral server" in out
    assert "AgentError: status=404" in out


def test_web_search_agent_runs_without_a_key() -> None:
    out = run_example("web_search_agent.py")
    assert "[web_search started" in out and "[web_search done]" in out
    assert "source: Mistral AI <https://mistral.ai>" in out
    assert "[function get_weather(" in out
    assert "assistant: Here is what I found: sunny, 21 degrees in Paris" in out


def test_sync_agent_example_runs_without_a_key() -> None:
    out = run_example("sync_agent.py")
    assert "No MISTRAL_API_KEY: using the bundled local Mistral server" in out
    assert re.search(r"created Mistral agent ag_[0-9a-f]{32}", out)
    assert ": version 0 -> 1\n" in out
    assert "(LiveKit runs get_weather('Paris'))\n" in out
    assert "assistant: Here is what I found: sunny, 21 degrees\n" in out
