"""The soak at a reduced size: ``python scripts/soak.py`` runs the full one (2,000 / 100)."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType

import aiohttp
import pytest

from livekit.plugins.mistral.testing import LocalMistral


def load_soak() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "scripts" / "soak.py"
    spec = importlib.util.spec_from_file_location("soak_script", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


soak = load_soak()


def test_the_draw_is_reproducible_and_covers_every_scenario() -> None:
    def draw(seed: int) -> list[tuple[str, str, str]]:
        rng = random.Random(seed)
        return [(p.mode, p.scenario, p.text) for p in (soak.draw_plan(rng, i) for i in range(300))]

    assert draw(3) == draw(3) and draw(3) != draw(4)
    assert {scenario for _, scenario, _ in draw(3)} == set(soak.SCENARIOS)
    assert {mode for mode, _, _ in draw(3)} == {"normal", "agent"}


async def test_soak_300_streams_30_at_a_time() -> None:
    report = await soak.soak(streams=300, concurrency=30, seed=3)
    print(report.table())  # shown with -s, or when the test fails
    assert len(report.results) == 300
    assert [r.verdict for r in report.unexpected] == []
    assert {r.scenario for r in report.results} == set(soak.SCENARIOS)
    assert report.peak_sockets > 0  # the socket count sees the connections
    assert report.sockets_end in (0, None)
    assert report.tasks_end == []
    assert report.server_streams_end == 0
    growth = report.rss_growth
    assert growth is None or growth < report.rss_bound
    assert report.ok


@pytest.mark.skipif(sys.platform != "linux", reason="counts sockets through /proc")
async def test_socket_count_sees_an_open_connection() -> None:
    """The leak check is only as good as its counter."""
    async with LocalMistral() as server:
        assert soak.tcp_sockets(server.port) == 0
        async with aiohttp.ClientSession() as session:
            async with session.get(server.base_url + "/v1/models") as resp:
                await resp.read()
            assert soak.tcp_sockets(server.port) == 2  # both ends, kept alive
        await soak.settle(lambda: soak.tcp_sockets(server.port) == 0)
        assert soak.tcp_sockets(server.port) == 0
