"""The request rules the live API enforces, as pure functions.

``check_chat_request`` and ``check_conversation_request`` return ``None`` for a request the live
API accepts, else a :class:`RuleViolation` holding the status and body the live API answers.
The order follows the live API: schema errors (422, all reported at once) first, then the
model and agent checks, then the checks on the message list (400).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import errors
from .errors import ErrorBody
from .schema import chat_schema_errors, conversation_schema_errors, entry_type

KNOWN_MODELS: frozenset[str] = frozenset(
    {
        "mistral-small-latest",
        "mistral-medium-latest",
        "mistral-large-latest",
        "ministral-8b-latest",
        "ministral-3b-latest",
        "magistral-small-latest",
        "magistral-medium-latest",
        "open-mistral-nemo",
        "codestral-latest",
        "pixtral-large-latest",
    }
)

_TOOL_CALL_ID_RE = re.compile(r"^[a-zA-Z0-9]{9}$")


@dataclass(frozen=True)
class RuleViolation:
    """A refused request: the HTTP status and JSON body the live API answers with."""

    status: int
    body: ErrorBody

    @property
    def message(self) -> str:
        """A readable one-line summary of the body."""
        detail = self.body.get("message", self.body.get("detail"))
        if isinstance(detail, dict):
            detail = detail.get("detail")
        if isinstance(detail, list):
            return "; ".join(_describe_item(item) for item in detail)
        return str(detail)


def _describe_item(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    loc = ".".join(str(part) for part in item.get("loc", ()))
    return f"{loc}: {item.get('msg', '')}"


# --- chat message-list rules (400) ---------------------------------------------------------


def _role(message: Mapping[str, Any]) -> str:
    return str(message.get("role"))


def _calls_of(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    calls = message.get("tool_calls") if _role(message) == "assistant" else None
    return calls if isinstance(calls, list) else []


def _has_content(message: Mapping[str, Any]) -> bool:
    content = message.get("content")
    return bool(content) if isinstance(content, str | list) else False


def _invalid_call_id(call_id: Any) -> ErrorBody | None:
    if isinstance(call_id, str) and _TOOL_CALL_ID_RE.match(call_id):
        return None
    return errors.invalid_tool_call_id(str(call_id))


def _chat_tool_call_ids(messages: Sequence[Mapping[str, Any]]) -> ErrorBody | None:
    for message in messages:
        ids = [call.get("id") for call in _calls_of(message)]
        if _role(message) == "tool":
            ids.append(message.get("tool_call_id"))
        for call_id in ids:
            if (body := _invalid_call_id(call_id)) is not None:
                return body
    return None


def _chat_assistant_shape(messages: Sequence[Mapping[str, Any]]) -> ErrorBody | None:
    for message in messages:
        if _role(message) != "assistant":
            continue
        has_content, has_calls = _has_content(message), bool(_calls_of(message))
        if has_content and has_calls:
            which = "both"
        elif not has_content and not has_calls:
            which = "none"
        else:
            continue
        return errors.bad_request(
            f"Assistant message must have either content or tool_calls, but not {which}."
        )
    return None


def _chat_role_order(messages: Sequence[Mapping[str, Any]]) -> ErrorBody | None:
    previous: Mapping[str, Any] | None = None
    for message in messages:
        role = _role(message)
        before = _role(previous) if previous is not None else "none"
        if role == "tool" and not (before == "tool" or _calls_of(previous or {})):
            return errors.message_order(f"Unexpected role 'tool' after role '{before}'")
        if role == "user" and before == "tool":
            return errors.message_order("Unexpected role 'user' after role 'tool'")
        previous = message
    return None


def _chat_tool_answers(messages: Sequence[Mapping[str, Any]]) -> ErrorBody | None:
    calls = sum(len(_calls_of(message)) for message in messages)
    answers = sum(1 for message in messages if _role(message) == "tool")
    if calls != answers:
        return errors.bad_request(
            "Not the same number of function calls and responses", code="3230"
        )
    for i, message in enumerate(messages):
        if (body := _unanswered_calls(message, messages[i + 1 :])) is not None:
            return body
    return None


def _unanswered_calls(
    message: Mapping[str, Any], following: Sequence[Mapping[str, Any]]
) -> ErrorBody | None:
    """Check that the tool messages right after ``message`` answer each of its calls once."""
    expected = Counter(str(call.get("id")) for call in _calls_of(message))
    if not expected:
        return None
    answered: Counter[str] = Counter()
    for reply in following:
        if _role(reply) != "tool":
            break
        answered[str(reply.get("tool_call_id"))] += 1
    if answered == expected:
        return None
    missing = sorted((expected - answered).keys())
    unexpected = sorted((answered - expected).keys())
    if missing:
        text = f"Tool call {missing[0]} is not answered by exactly one tool message"
    else:
        text = f"Tool message answers tool call {unexpected[0]}, which the assistant did not make"
    return errors.bad_request(text, code="3230")


def _chat_last_role(messages: Sequence[Mapping[str, Any]]) -> ErrorBody | None:
    last = messages[-1]
    role = _role(last)
    if role in ("user", "tool") or (role == "assistant" and last.get("prefix") is True):
        return None
    return errors.message_order(
        "Expected last role User or Tool (or Assistant with prefix True) for serving "
        f"but got {role}"
    )


_CHAT_SEMANTICS = (
    _chat_tool_call_ids,
    _chat_assistant_shape,
    _chat_role_order,
    _chat_tool_answers,
    _chat_last_role,
)


def check_chat_request(
    body: Any, *, models: Collection[str] = KNOWN_MODELS
) -> RuleViolation | None:
    """Validate a ``POST /v1/chat/completions`` body as the live API does.

    Args:
        body: the parsed JSON body.
        models: the model ids accepted (default :data:`KNOWN_MODELS`).
    """
    if schema_errors := chat_schema_errors(body):
        return RuleViolation(422, errors.validation_error(schema_errors))
    if body["model"] not in models:
        return RuleViolation(400, errors.invalid_model(body["model"]))
    for check in _CHAT_SEMANTICS:
        if (error := check(body["messages"])) is not None:
            return RuleViolation(400, error)
    return None


def _conversation_target(
    body: Mapping[str, Any], known_agents: Collection[str], models: Collection[str]
) -> RuleViolation | None:
    agent_id, model = body.get("agent_id"), body.get("model")
    if agent_id is not None and model is not None:
        return RuleViolation(
            400, errors.bad_request("Exactly one of agent_id and model must be provided, not both.")
        )
    if agent_id is None and model is None:
        return RuleViolation(
            400,
            errors.bad_request("Exactly one of agent_id and model must be provided, got neither."),
        )
    if agent_id is not None:
        for field in ("instructions", "tools"):
            if body.get(field) is not None:
                return RuleViolation(
                    400,
                    errors.bad_request(
                        f"'{field}' cannot be set together with agent_id: the agent's own "
                        f"{field} apply."
                    ),
                )
        if agent_id not in known_agents:
            return RuleViolation(404, errors.not_found(f"Agent not found: {agent_id}"))
        return None
    if model not in models:
        return RuleViolation(400, errors.invalid_model(str(model)))
    return _model_conversation(body)


_WEB_SEARCHES = frozenset({"web_search", "web_search_premium"})


def _model_conversation(body: Mapping[str, Any]) -> RuleViolation | None:
    """What a conversation with a model (no agent) may not hold."""
    if body.get("handoff_execution") is not None:
        return RuleViolation(
            400, errors.bad_request("handoff_execution is only supported with agent_id.")
        )
    kinds = {tool.get("type") for tool in body.get("tools") or ()}
    if _WEB_SEARCHES <= kinds:
        error = {
            "type": "value_error",
            "loc": ["body", "tools"],
            "msg": "Value error, web_search and web_search_premium cannot be used together",
            "input": body["tools"],
        }
        return RuleViolation(422, errors.validation_error([error]))
    return None


def _conversation_function_entries(entries: Sequence[Mapping[str, Any]]) -> ErrorBody | None:
    calls: Counter[str] = Counter()
    results: Counter[str] = Counter()
    for entry in entries:
        kind = entry_type(entry)
        if kind not in ("function.call", "function.result"):
            continue
        if (body := _invalid_call_id(entry.get("tool_call_id"))) is not None:
            return body
        (calls if kind == "function.call" else results)[str(entry["tool_call_id"])] += 1
    if calls != results or any(count != 1 for count in calls.values()):
        return errors.bad_request(
            "Not the same number of function calls and responses", code="3230"
        )
    return None


def check_conversation_request(
    body: Any, known_agents: Collection[str] = (), *, models: Collection[str] = KNOWN_MODELS
) -> RuleViolation | None:
    """Validate a ``POST /v1/conversations`` body as the live API does.

    Args:
        body: the parsed JSON body.
        known_agents: agent ids that exist; any other ``agent_id`` gets 404.
        models: the model ids accepted (default :data:`KNOWN_MODELS`).
    """
    if schema_errors := conversation_schema_errors(body):
        return RuleViolation(422, errors.validation_error(schema_errors))
    if (violation := _conversation_target(body, known_agents, models)) is not None:
        return violation
    inputs = body["inputs"]
    if isinstance(inputs, list) and (error := _conversation_function_entries(inputs)) is not None:
        return RuleViolation(400, error)
    return None
