"""Construction refuses what cannot be a valid request, saying what is wrong and what to do."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from conftest import stream_reply
from livekit.agents import llm

from livekit.plugins.mistral import LLM
from livekit.plugins.mistral.testing import AgentReply, ChatReply, LocalMistral

MakeLLM = Callable[..., LLM]

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
        ({"top_p": -0.1}, "top_p must be a number greater than 0 and at most 1"),
        ({"presence_penalty": 3}, "presence_penalty must be a number from -2 to 2"),
        ({"frequency_penalty": -2.5}, "frequency_penalty must be a number from -2 to 2"),
        ({"max_tokens": -1}, "max_tokens must be a whole number >= 0"),
        ({"max_tokens": True}, "max_tokens must be a whole number >= 0"),
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


# what the API refuses (Mistral's OpenAPI document), or what no request can carry
REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("normal", {"response_format": 42}, "response_format must be a pydantic model class"),
    ("normal", {"response_format": "yaml"}, "response_format must be a pydantic model class"),
    ("normal", {"response_format": {"type": "json_schema"}}, "'json_schema': {'name'"),
    ("normal", {"temperature": True}, "temperature must be a number from 0 to 1.5, got True"),
    ("normal", {"top_p": 0}, "top_p must be a number greater than 0 and at most 1, got 0"),
    ("normal", {"presence_penalty": False}, "presence_penalty must be a number from -2 to 2"),
    ("normal", {"safe_prompt": "yes"}, "safe_prompt must be True or False"),
    ("normal", {"parallel_tool_calls": 1}, "parallel_tool_calls must be True or False"),
    ("agent", {"temperature": 1.2}, "temperature must be at most 1 for Mistral's Conversations"),
    ("agent", {"top_p": 0.0}, "top_p must be a number greater than 0"),
]


@pytest.mark.parametrize(("mode", "kwargs", "message"), REFUSED)
async def test_refused_options_raise_at_construction_and_in_update_options(
    server: LocalMistral, make_llm: MakeLLM, mode: str, kwargs: dict[str, Any], message: str
) -> None:
    model_kwargs: dict[str, Any] = {"model": AGENT, "mode": "agent"} if mode == "agent" else {}
    with pytest.raises(ValueError, match=re.escape(message)):
        make_llm(**model_kwargs, **kwargs)

    model = make_llm(**model_kwargs)
    with pytest.raises(ValueError, match=re.escape(message)):
        model.update_options(**kwargs)
    queue_reply(server, mode)
    await stream_reply(model, user_ctx())  # the refused value changed nothing
    (body,) = [r.body for r in server.requests]
    sampling = body.get("completion_args", {}) if mode == "agent" else body
    assert not set(kwargs) & set(sampling)


ACCEPTED: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("normal", {"max_tokens": 0, "top_p": 1, "temperature": 1.5}, {}),
    ("normal", {"response_format": "json_object"}, {"response_format": {"type": "json_object"}}),
    (
        "normal",
        {"response_format": {"type": "object", "properties": {"a": {"type": "string"}}}},
        {
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "response",
                    "schema": {"type": "object", "properties": {"a": {"type": "string"}}},
                },
            }
        },
    ),
    ("agent", {"temperature": 1, "top_p": 0.5, "max_tokens": 0}, {}),
]


@pytest.mark.parametrize(("mode", "kwargs", "sent"), ACCEPTED)
async def test_edge_values_are_sent_and_accepted(
    server: LocalMistral,
    make_llm: MakeLLM,
    mode: str,
    kwargs: dict[str, Any],
    sent: dict[str, Any],
) -> None:
    model_kwargs: dict[str, Any] = {"model": AGENT, "mode": "agent"} if mode == "agent" else {}
    model = make_llm(**model_kwargs, **kwargs)
    queue_reply(server, mode)
    _, text, _ = await stream_reply(model, user_ctx())
    assert text == "Fine."  # the local server, holding the API's ranges, took the request
    (body,) = [r.body for r in server.requests]
    sampling = body.get("completion_args", {}) if mode == "agent" else body
    assert {name: sampling[name] for name in sent or kwargs} == (sent or kwargs)


def queue_reply(server: LocalMistral, mode: str) -> None:
    if mode == "agent":
        server.queue_conversation(AgentReply(text="Fine."))
    else:
        server.queue_chat(ChatReply(text="Fine."))


def user_ctx() -> llm.ChatContext:
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content="Hello")
    return ctx
