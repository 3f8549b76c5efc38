"""Rough edges a new user meets: a missing optional extra, a wrong base_url, a missing agent."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import pytest
from conftest import AGENT_ID, API_KEY, stream_reply
from livekit.agents import APIConnectOptions, llm
from livekit.agents.utils.images import image as livekit_images

from livekit import rtc
from livekit.plugins.mistral import LLM, MistralStatusError
from livekit.plugins.mistral.mapping import chat as chat_mapping
from livekit.plugins.mistral.testing import AgentReply, ChatReply, Fault, LocalMistral

MakeLLM = Callable[..., LLM]
NO_RETRY = APIConnectOptions(max_retry=0, timeout=2.0)


def user_ctx() -> llm.ChatContext:
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content="Hello")
    return ctx


@pytest.fixture
def without_pillow(monkeypatch: pytest.MonkeyPatch) -> None:
    """livekit-agents installed without its ``images`` extra: Pillow cannot be imported."""
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    monkeypatch.delattr(livekit_images, "Image", raising=False)  # imported by an earlier test
    chat_mapping._warn_images_extra_missing.cache_clear()


@pytest.mark.parametrize("mode", ["normal", "agent"])
async def test_a_video_frame_without_pillow_is_skipped_with_one_warning(
    server: LocalMistral,
    make_llm: MakeLLM,
    without_pillow: None,
    caplog: pytest.LogCaptureFixture,
    mode: str,
) -> None:
    frame = rtc.VideoFrame(2, 2, rtc.VideoBufferType.RGBA, bytes(2 * 2 * 4))
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content=["What do you see?", llm.ImageContent(image=frame)])
    if mode == "agent":
        server.queue_conversation(AgentReply(text="A dark room."), AgentReply(text="Still dark."))
        model = make_llm(model=AGENT_ID, mode="agent")
    else:
        server.queue_chat(ChatReply(text="A dark room."), ChatReply(text="Still dark."))
        model = make_llm()

    with caplog.at_level(logging.WARNING, logger="livekit.plugins.mistral"):
        for _ in range(2):  # the frame stays in the history: every turn meets it
            await stream_reply(model, ctx)

    sent = [r.body for r in server.requests]
    if mode == "agent":
        assert [b["inputs"] for b in sent] == [
            [{"type": "message.input", "role": "user", "content": "What do you see?"}]
        ] * 2
    else:
        assert [b["messages"] for b in sent] == [
            [{"role": "user", "content": "What do you see?"}]
        ] * 2
    warnings = [r.getMessage() for r in caplog.records if "Pillow" in r.getMessage()]
    assert len(warnings) == 1 and "livekit-agents[images]" in warnings[0]


@pytest.mark.parametrize("mode", ["normal", "agent"])
@pytest.mark.parametrize("path", ["/v1x", "/api/v1"])
async def test_a_404_from_a_wrong_base_url_names_the_url(
    server: LocalMistral, make_llm: MakeLLM, mode: str, path: str
) -> None:
    kwargs: dict[str, Any] = {"model": AGENT_ID, "mode": "agent"} if mode == "agent" else {}
    model = make_llm(base_url=server.base_url + path, **kwargs)
    with pytest.raises(MistralStatusError) as caught:
        await stream_reply(model, user_ctx(), conn_options=NO_RETRY)
    (request,) = server.requests
    assert request.path.startswith(path.removesuffix("/v1") + "/v1/")
    called = f"POST {server.base_url}{request.path}"
    assert caught.value.status_code == 404
    assert f"Not Found; no Mistral API answered {called}: check base_url" in str(caught.value)
    assert API_KEY not in str(caught.value)


async def test_a_404_in_mistrals_envelope_still_points_at_the_model(
    server: LocalMistral, make_llm: MakeLLM
) -> None:
    server.queue_http("/v1/chat/completions", Fault.status(404))
    with pytest.raises(MistralStatusError) as caught:
        await stream_reply(make_llm(), user_ctx(), conn_options=NO_RETRY)
    assert str(caught.value).startswith("Not found; check the model or agent id")
    assert "base_url" not in str(caught.value)


async def test_prewarm_names_a_missing_agent_and_the_status_in_the_log_text(
    server: LocalMistral, make_llm: MakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    missing = "ag_" + "e" * 32
    model = make_llm(model=missing, mode="agent")
    with caplog.at_level(logging.ERROR, logger="livekit.plugins.mistral"):
        model.prewarm()
        assert model._prewarm_task is not None
        await model._prewarm_task
    (record,) = caplog.records
    shown = logging.Formatter(logging.BASIC_FORMAT).format(record)  # what basicConfig() prints
    assert shown == (
        f"ERROR:livekit.plugins.mistral:the Mistral agent {missing} could not be loaded "
        f"(status 404: Agent not found: {missing}; check the model or agent id); "
        "calls to it will fail"
    )
