"""What the built wheel and sdist carry, built in-process by the project's own build backend."""

from __future__ import annotations

import tarfile
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest
from hatchling.builders.sdist import SdistBuilder
from hatchling.builders.wheel import WheelBuilder
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
LICENSE_START = "Apache License\n                           Version 2.0, January 2004"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    (path,) = WheelBuilder(str(ROOT)).build(directory=str(out), versions=["standard"])
    return zipfile.ZipFile(path)


def test_the_license_is_in_the_repository_the_wheel_and_the_sdist(
    wheel: zipfile.ZipFile, tmp_path: Path
) -> None:
    text = (ROOT / "LICENSE").read_text()
    assert LICENSE_START in text and "END OF TERMS AND CONDITIONS" in text
    in_wheel = [name for name in wheel.namelist() if name.endswith("/licenses/LICENSE")]
    assert [wheel.read(name).decode() for name in in_wheel] == [text]
    assert _metadata(wheel).get_all("License-File") == ["LICENSE"]

    (path,) = SdistBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"])
    with tarfile.open(path) as sdist:
        (member,) = [m for m in sdist.getmembers() if m.name.endswith("/LICENSE")]
        extracted = sdist.extractfile(member)
        assert extracted is not None and extracted.read().decode() == text


def test_the_mcp_extra_asks_for_the_livekit_agents_range_of_the_dependency(
    wheel: zipfile.ZipFile,
) -> None:
    requires = [Requirement(r) for r in _metadata(wheel).get_all("Requires-Dist") or []]
    agents = [r for r in requires if r.name == "livekit-agents"]
    (core,) = [r for r in agents if r.marker is None]
    (mcp,) = [r for r in agents if r.marker is not None and r.marker.evaluate({"extra": "mcp"})]
    assert mcp.extras == {"mcp"}
    assert mcp.specifier == core.specifier


def _metadata(wheel: zipfile.ZipFile) -> Message:
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    return Parser().parsestr(wheel.read(name).decode())
