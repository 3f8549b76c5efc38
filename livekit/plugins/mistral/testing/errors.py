"""Error bodies in the shapes the live API sends (see shared/reference/mistral-api.md).

Bodies seen live are copied in shape and wording; where the live API has no documented body
(403, 404, 409, 5xx) the choice is written down in :data:`_STATUS_DEFAULTS`.
"""

from __future__ import annotations

from typing import Any, Literal

from .ids import hex32

ErrorBody = dict[str, Any]
ValidationShape = Literal["envelope", "detail"]

UNAUTHORIZED: ErrorBody = {"detail": "Unauthorized"}


def envelope(
    message: Any, *, type: str, code: str | None, status: int, param: str | None = None
) -> ErrorBody:
    """The documented error envelope, with the ``raw_status_code`` newer responses add."""
    return {
        "object": "error",
        "message": message,
        "type": type,
        "param": param,
        "code": code,
        "raw_status_code": status,
    }


def validation_error(
    errors: list[dict[str, Any]], *, shape: ValidationShape = "envelope"
) -> ErrorBody:
    """A 422 body listing pydantic-style errors (``type``, ``loc``, ``msg``, ``input``)."""
    if shape == "detail":
        return {"detail": errors}
    return envelope({"detail": errors}, type="invalid_request_error", code=None, status=422)


def invalid_model(model: str) -> ErrorBody:
    return envelope(f"Invalid model: {model}", type="invalid_model", code="1500", status=400)


def bad_request(
    message: str, *, type: str = "invalid_request_error", code: str | None = None
) -> ErrorBody:
    return envelope(message, type=type, code=code, status=400)


def message_order(message: str) -> ErrorBody:
    """The 400 the live API sends for a badly ordered message list (code 3230)."""
    return bad_request(message, type="invalid_request_message_order", code="3230")


def invalid_tool_call_id(call_id: str) -> ErrorBody:
    return bad_request(
        f"Tool call id was {call_id} but must be a-z, A-Z, 0-9, with a length of 9.",
        type="invalid_function_call",
        code="3280",
    )


def guardrail_blocked(guardrail: str, model_name: str, decisions: dict[str, Any]) -> ErrorBody:
    """403 for a guardrail that blocked the request, as Mistral's moderation docs show it."""
    return {
        "error": {"message": "Content blocked by guardrail", "status": 403},
        "guardrails": {
            "results": {
                guardrail: {
                    "model_name": model_name,
                    "decisions": decisions,
                    "violated": True,
                    "action": "block",
                }
            }
        },
    }


def guardrail_failed(guardrail: str) -> ErrorBody:
    """403 for a guardrail with ``block_on_error`` whose moderation check failed (documented
    body: note the capitalised ``"Error"`` and the integer code)."""
    return {
        "object": "Error",
        "message": (
            "Request blocked due to error in guardrail evaluation and block_on_error is set "
            "to True."
        ),
        "type": "invalid_request_error",
        "code": 3201,
        "guardrails": [
            {guardrail: {"action": "block", "error": {"message": "Moderation API request failed."}}}
        ],
    }


def not_found(message: str) -> ErrorBody:
    return envelope(message, type="not_found_error", code=None, status=404)


def _gateway(message: str) -> ErrorBody:
    """The API gateway's (Kong's) own body, sent when the upstream is unreachable."""
    return {"message": message, "request_id": hex32()}


_STATUS_DEFAULTS: dict[int, ErrorBody] = {
    401: UNAUTHORIZED,
    403: {"detail": "Forbidden"},
    404: envelope("Not found", type="not_found_error", code=None, status=404),
    409: envelope(
        "Conversation is already being processed, try again later",
        type="invalid_request_error",
        code=None,
        status=409,
    ),
    429: envelope("Rate limit exceeded", type="rate_limited", code="1300", status=429),
    500: envelope("Internal server error", type="internal_server_error", code=None, status=500),
    503: envelope("Service unavailable", type="service_unavailable", code=None, status=503),
}


def default_error_body(status: int, *, shape: ValidationShape = "envelope") -> ErrorBody:
    """The body the server sends for ``status`` when a test does not give one."""
    if status == 400:
        return invalid_model("unknown-model")
    if status == 422:
        extra = {
            "type": "extra_forbidden",
            "loc": ["body", "unexpected_field"],
            "msg": "Extra inputs are not permitted",
            "input": True,
        }
        return validation_error([extra], shape=shape)
    if status == 502:
        return _gateway("An invalid response was received from the upstream server")
    if status == 504:
        return _gateway("The upstream server is timing out")
    if status in _STATUS_DEFAULTS:
        return dict(_STATUS_DEFAULTS[status])
    return envelope(f"HTTP {status}", type="api_error", code=None, status=status)
