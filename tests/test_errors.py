"""One mapping from Mistral's error answers to LiveKit's error classes (pure, no I/O)."""

from __future__ import annotations

import pytest
from livekit.agents import APIStatusError

from livekit.plugins.mistral import AgentError, MistralStatusError
from livekit.plugins.mistral.errors import error_message, status_error

BODIES = [
    ({"detail": "Unauthorized"}, 401, "Unauthorized"),
    ({"detail": "Invalid API Key"}, 401, "Invalid API Key"),
    ({"message": "Unauthorized", "request_id": "r1"}, 401, "Unauthorized"),
    (
        {
            "object": "error",
            "message": "Invalid model: x",
            "type": "invalid_model",
            "param": None,
            "code": "1500",
        },
        400,
        "Invalid model: x",
    ),
    (
        {
            "object": "error",
            "message": {
                "detail": [{"type": "extra_forbidden", "loc": ["body", "n"], "msg": "Extra inputs"}]
            },
            "type": "invalid_request_error",
        },
        422,
        "n: Extra inputs",
    ),
    (
        {"detail": [{"loc": ["body", "messages", 0, "role"], "msg": "bad role"}]},
        422,
        "messages.0.role: bad role",
    ),
    ("<html>Bad gateway</html>", 502, "Mistral answered HTTP 502: <html>Bad gateway</html>"),
    ("", 503, "Mistral answered HTTP 503"),
    (None, 504, "Mistral answered HTTP 504"),
]


@pytest.mark.parametrize(("body", "status", "expected"), BODIES)
def test_readable_message_from_every_body_shape(body: object, status: int, expected: str) -> None:
    assert error_message(body, status) == expected


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (401, False),
        (404, False),
        (409, False),
        (422, False),
        (408, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
    ],
)
def test_retryable_follows_livekit_rules(status: int, retryable: bool) -> None:
    err = status_error(status, {"message": "m"}, {}, output_sent=False)
    assert isinstance(err, APIStatusError)
    assert err.retryable is retryable
    assert err.status_code == status


def test_never_retryable_once_output_was_sent() -> None:
    err = status_error(503, {"message": "m"}, {}, output_sent=True)
    assert err.retryable is False


def test_429_exposes_retry_after_code_and_request_id() -> None:
    body = {
        "object": "error",
        "message": "Rate limit exceeded",
        "type": "rate_limited",
        "code": "1300",
    }
    headers = {"retry-after": "2", "mistral-correlation-id": "corr-1"}
    err = status_error(429, body, headers, output_sent=False)
    assert isinstance(err, MistralStatusError)
    assert (err.retry_after, err.code, err.error_type, err.request_id) == (
        2.0,
        "1300",
        "rate_limited",
        "corr-1",
    )
    assert err.body == body
    text = str(err)
    assert text.startswith("Rate limit exceeded; rate limited by Mistral")
    assert "retry after 2s" in text and "request id corr-1" in text
    assert "{" not in text  # the raw body stays on .body


def test_agent_errors_carry_agent_and_conversation() -> None:
    err = status_error(
        404,
        {"detail": "Agent not found"},
        {},
        output_sent=False,
        agent_id="ag_" + "0" * 32,
        conversation_id="conv_1",
    )
    assert isinstance(err, AgentError)
    assert err.agent_id == "ag_" + "0" * 32 and err.conversation_id == "conv_1"
    assert err.retryable is False
    assert "agent ag_000" in str(err) and "conversation conv_1" in str(err)
    assert "check the model or agent id" in err.message
