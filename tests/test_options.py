"""Construction refuses what cannot be a valid request, saying what is wrong and what to do."""

from __future__ import annotations

from typing import Any

import pytest

from livekit.plugins.mistral import LLM

AGENT = "ag_0680b7000e847f6e80003620e5d4d99d"
LEGACY_AGENT = "ag:3a1b2c3d:20240101:support-bot:9f8e7d6c"


def test_missing_key_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    with pytest.raises(ValueError, match="MISTRAL_API_KEY"):
        LLM()


def test_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", "env-key-123")
    llm = LLM()
    assert llm.model == "mistral-small-latest" and llm.provider == "mistral"
    assert "env-key-123" not in repr(llm)


def test_unknown_mode_lists_the_modes() -> None:
    with pytest.raises(ValueError, match=r"mode must be one of \['normal', 'agent'\]"):
        LLM(api_key="k", mode="fast")  # type: ignore[arg-type]


def test_agent_id_in_normal_mode_says_which_mode() -> None:
    with pytest.raises(ValueError, match="mode='agent'"):
        LLM(api_key="k", model=AGENT)


def test_model_name_in_agent_mode_says_which_mode() -> None:
    with pytest.raises(ValueError, match="mode='normal'"):
        LLM(api_key="k", model="mistral-small-latest", mode="agent")


@pytest.mark.parametrize("agent_id", [AGENT, LEGACY_AGENT])
def test_agent_ids_accepted(agent_id: str) -> None:
    assert LLM(api_key="k", model=agent_id, mode="agent").model == agent_id


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": 2.0}, "temperature must be a number from 0 to 1.5"),
        ({"temperature": float("nan")}, "temperature must be a number from 0 to 1.5"),
        ({"top_p": -0.1}, "top_p must be a number from 0 to 1"),
        ({"presence_penalty": 3}, "presence_penalty must be a number from -2 to 2"),
        ({"frequency_penalty": -2.5}, "frequency_penalty must be a number from -2 to 2"),
        ({"max_tokens": 0}, "max_tokens must be a whole number >= 1"),
        ({"max_tokens": True}, "max_tokens must be a whole number >= 1"),
        ({"random_seed": -1}, "random_seed must be a whole number >= 0"),
        ({"stop": ["a", 1]}, "stop must be a string or a list of strings"),
        ({"reasoning_effort": "max"}, "reasoning_effort must be one of"),
        ({"tool_choice": "any"}, "tool_choice must be 'auto', 'required', 'none'"),
        ({"base_url": "ftp://x"}, "base_url must be an http"),
    ],
)
def test_out_of_range_options_say_the_range(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LLM(api_key="k", **kwargs)


def test_update_options_validates_and_changes_nothing_on_error() -> None:
    llm = LLM(api_key="k", temperature=0.3)
    with pytest.raises(ValueError, match="temperature"):
        llm.update_options(temperature=9.0)
    assert llm._opts.temperature == 0.3
    llm.update_options(temperature=None, model="mistral-large-latest")
    assert llm._opts.temperature is None and llm.model == "mistral-large-latest"


def test_base_url_trailing_v1_is_accepted() -> None:
    llm = LLM(api_key="k", base_url="http://127.0.0.1:9/v1/")
    assert llm._http.base_url == "http://127.0.0.1:9"
