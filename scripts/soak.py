"""Soak: thousands of streams, many at once, faults at random, nothing may leak.

    .venv/bin/python scripts/soak.py            # 2,000 streams, 100 at a time
    .venv/bin/python scripts/soak.py --streams 5000 --concurrency 200 --seed 7

Every stream gets a scenario drawn from a seeded ``random.Random`` (a plain answer, a tool
call, a fault that a retry survives, a fault that ends the call, a voice interruption) in
normal or agent mode, against the bundled ``LocalMistral`` over loopback. The server picks
each answer from a marker in the user's text (``server.responder``), so the script of a
request does not depend on arrival order. Every outcome must be the scripted one: the
answer text exactly, or the expected error class with the spoken text a prefix of the
answer (never repeated). At the end the process RSS (after warm-up vs. end), the TCP
sockets to the server and the pending asyncio tasks are checked. ``tests/test_soak.py``
runs a reduced size of the same soak.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from livekit.agents import APIConnectionError, APIConnectOptions, APIError, APITimeoutError, llm

from livekit.plugins.mistral import LLM, AgentError, MistralStatusError
from livekit.plugins.mistral.testing import (
    AgentReply,
    ChatReply,
    Fault,
    LocalMistral,
    RecordedRequest,
    ToolCall,
)

Mode = Literal["normal", "agent"]
Reply = ChatReply | AgentReply
API_KEY = "sk-soak-0123456789abcdef"
AGENT_ID = "ag_0680b7000e847f6e80003620e5d4d99d"
OPTS = APIConnectOptions(max_retry=1, retry_interval=0.05, timeout=0.5)
ATTEMPTS = OPTS.max_retry + 1
MARKER = re.compile(rb"\[soak:(\d+)\]")
WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike".split()
TOOL = "lookup_order"


# --- scenarios ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """What the server answers, attempt by attempt, and how the stream must end.

    ``error`` is the plugin's error for the last attempt (``MistralStatusError`` stands for
    ``AgentError`` in agent mode); when ``retryable`` LiveKit wraps it in its own
    ``APIConnectionError`` after the last attempt. ``spoken`` is how much of the answer
    must have been heard.
    """

    weight: int
    answers: Callable[[Reply], list[Reply | Fault]]
    error: type[APIError] | None = None
    retryable: bool = False
    spoken: Literal["all", "some", "none"] = "all"
    tool_call: bool = False
    interrupt: bool = False


BEFORE, AFTER = 1, 3  # events before a mid-stream fault: before / after the first text


def _answer(reply: Reply) -> list[Reply | Fault]:
    return [reply]


def _then(fault: Fault) -> Callable[[Reply], list[Reply | Fault]]:
    return lambda reply: [fault, reply]


def _then_mid(make: Callable[..., Fault], *args: Any) -> Callable[[Reply], list[Reply | Fault]]:
    return lambda reply: [make(*args, reply=reply), reply]


def _always(fault: Fault) -> Callable[[Reply], list[Reply | Fault]]:
    return lambda reply: [fault] * ATTEMPTS


def _once_mid(make: Callable[..., Fault], *args: Any) -> Callable[[Reply], list[Reply | Fault]]:
    return lambda reply: [make(*args, reply=reply)]


SCENARIOS: dict[str, Scenario] = {
    "answer": Scenario(30, _answer),
    "tool call": Scenario(6, _answer, tool_call=True),
    "interrupted": Scenario(6, _answer, spoken="some", interrupt=True),
    "503, retried": Scenario(5, _then(Fault.status(503))),
    "429, retried": Scenario(3, _then(Fault.status(429, retry_after=0))),
    "reset before headers, retried": Scenario(5, _then(Fault.reset_before_headers())),
    "stall before headers, retried": Scenario(2, _then(Fault.stall_before_headers())),
    "reset before output, retried": Scenario(4, _then_mid(Fault.reset_mid_stream, BEFORE)),
    "malformed before output, retried": Scenario(3, _then_mid(Fault.malformed_event, BEFORE)),
    "error event before output, retried": Scenario(3, _then_mid(Fault.in_stream_error, BEFORE)),
    "unknown events": Scenario(3, _once_mid(Fault.unknown_event, BEFORE)),
    "401": Scenario(3, _always(Fault.status(401)), MistralStatusError, spoken="none"),
    "429 on every attempt": Scenario(
        3, _always(Fault.status(429, retry_after=0)), MistralStatusError, True, "none"
    ),
    "502 on every attempt": Scenario(
        3, _always(Fault.status(502)), MistralStatusError, True, "none"
    ),
    "reset after output": Scenario(
        4, _once_mid(Fault.reset_mid_stream, AFTER), APIConnectionError, spoken="some"
    ),
    "stall after output": Scenario(
        2, _once_mid(Fault.stall_mid_stream, AFTER), APITimeoutError, spoken="some"
    ),
    "cut after output": Scenario(
        3, _once_mid(Fault.cut_stream, AFTER), APIConnectionError, spoken="some"
    ),
    "error event after output": Scenario(
        3, _once_mid(Fault.in_stream_error, AFTER), MistralStatusError, spoken="some"
    ),
    "html 200 on every attempt": Scenario(
        2, _always(Fault.wrong_content_type()), MistralStatusError, True, "none"
    ),
}


@dataclass
class Plan:
    """One stream, drawn from the seed."""

    index: int
    mode: Mode
    scenario: str
    text: str
    answers: list[Reply | Fault]
    attempts_served: int = 0


def draw_plan(rng: random.Random, index: int) -> Plan:
    names = list(SCENARIOS)
    name = rng.choices(names, weights=[SCENARIOS[n].weight for n in names])[0]
    scenario = SCENARIOS[name]
    mode: Mode = rng.choice(("normal", "agent"))
    words = [rng.choice(WORDS) for _ in range(rng.randint(4, 14))]
    text = " ".join(words) + f" number {index}."
    reply = _reply(mode, text, scenario.tool_call, index)
    return Plan(index, mode, name, text, scenario.answers(reply))


def _reply(mode: Mode, text: str, tool_call: bool, index: int) -> Reply:
    calls = [ToolCall(TOOL, {"order": index})] if tool_call else []
    if mode == "normal":
        return ChatReply(text="" if tool_call else text, tool_calls=calls)
    return AgentReply(text="" if tool_call else text, tool_calls=calls)


class Responder:
    """Answers each request with its stream's next scripted answer (by the user's marker)."""

    def __init__(self, plans: dict[int, Plan]) -> None:
        self.plans = plans

    def __call__(self, request: RecordedRequest) -> Reply | Fault | None:
        match = MARKER.search(request.raw)
        if match is None:
            raise LookupError("a soak request without a marker")
        plan = self.plans[int(match.group(1))]
        answer = plan.answers[min(plan.attempts_served, len(plan.answers) - 1)]
        plan.attempts_served += 1
        return answer


# --- running one stream -------------------------------------------------------------------------


@dataclass
class Result:
    scenario: str
    mode: Mode
    verdict: str
    """``"answered"``, ``"interrupted"``, ``"expected <Error>"`` or ``"UNEXPECTED: ..."``."""
    seconds: float


async def run_one(model: LLM, plan: Plan) -> Result:
    scenario = SCENARIOS[plan.scenario]
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content=f"Where is my order? [soak:{plan.index}]")
    pieces: list[str] = []
    calls: list[llm.FunctionToolCall] = []
    error: BaseException | None = None
    started = time.monotonic()
    try:
        async with model.chat(chat_ctx=ctx, conn_options=OPTS) as stream:
            async for chunk in stream:
                if chunk.delta is not None:
                    pieces.append(chunk.delta.content or "")
                    calls.extend(chunk.delta.tool_calls)
                if scenario.interrupt and "".join(pieces):
                    break  # the user spoke over the agent: the stream is closed at once
    except Exception as e:
        error = e
    seconds = time.monotonic() - started
    problem = judge(plan, scenario, "".join(pieces), calls, error, seconds)
    verdict = problem or _verdict(plan.mode, scenario)
    return Result(plan.scenario, plan.mode, verdict, seconds)


def expected_error(mode: Mode, scenario: Scenario) -> type[APIError] | None:
    if mode == "agent" and scenario.error is MistralStatusError:
        return AgentError
    return scenario.error


def _verdict(mode: Mode, scenario: Scenario) -> str:
    if scenario.interrupt:
        return "interrupted"
    expected = expected_error(mode, scenario)
    return "answered" if expected is None else f"expected {expected.__name__}"


def judge(
    plan: Plan,
    scenario: Scenario,
    text: str,
    calls: list[llm.FunctionToolCall],
    error: BaseException | None,
    seconds: float,
) -> str | None:
    """``None`` when the stream ended exactly as scripted, else what went wrong."""
    budget = ATTEMPTS * OPTS.timeout + 0.1 + OPTS.retry_interval * (ATTEMPTS - 2) + 2.0
    if seconds > budget:
        return f"UNEXPECTED: took {seconds:.2f}s, budget {budget:.2f}s"
    spoken_ok = {
        "all": text == ("" if scenario.tool_call else plan.text),
        "some": bool(text) and plan.text.startswith(text) and text != plan.text,
        "none": text == "",
    }[scenario.spoken]
    if not spoken_ok:
        return f"UNEXPECTED: spoke {text!r} for {plan.text!r}"
    if scenario.tool_call and [(c.name, json.loads(c.arguments)) for c in calls] != [
        (TOOL, {"order": plan.index})
    ]:
        return f"UNEXPECTED: tool calls {calls!r}"
    return _judge_error(plan.mode, scenario, error)


def _judge_error(mode: Mode, scenario: Scenario, error: BaseException | None) -> str | None:
    expected = expected_error(mode, scenario)
    if expected is None:
        return None if error is None else f"UNEXPECTED: {type(error).__name__}: {error}"
    if not isinstance(error, APIError):
        return f"UNEXPECTED: no APIError but {error!r}"
    err: BaseException | None = error
    if scenario.retryable:
        if type(error) is not APIConnectionError:
            return f"UNEXPECTED: not wrapped by LiveKit: {error!r}"
        err = error.__cause__
    if type(err) is not expected or not isinstance(err, APIError):
        return f"UNEXPECTED: {type(err).__name__} instead of {expected.__name__}: {err}"
    if err.retryable is not scenario.retryable:
        return f"UNEXPECTED: retryable={err.retryable} on {err!r}"
    return None


# --- the process: RSS, sockets, tasks -------------------------------------------------------------


def rss_bytes() -> int | None:
    """Resident set size now (Linux ``/proc``); ``None`` elsewhere."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None


def tcp_sockets(port: int) -> int | None:
    """This process's TCP sockets to or from ``port``, listeners excluded (``/proc``)."""
    try:
        inodes = set()
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue  # closed meanwhile
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        count = 0
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as rows:
                next(rows)
                for row in rows:
                    cols = row.split()
                    local, remote, state, inode = cols[1], cols[2], cols[3], cols[9]
                    ports = {int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16)}
                    if inode in inodes and port in ports and state != "0A":  # 0A: LISTEN
                        count += 1
        return count
    except OSError:
        return None


def pending_tasks() -> list[asyncio.Task[Any]]:
    current = asyncio.current_task()
    return [t for t in asyncio.all_tasks() if t is not current and not t.done()]


async def settle(check: Callable[[], bool], seconds: float = 2.0) -> None:
    """Give closing connections and cancelled handlers a moment to finish."""
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


# --- the soak ------------------------------------------------------------------------------------


@dataclass
class Report:
    streams: int
    concurrency: int
    seed: int
    results: list[Result]
    seconds: float
    requests: int
    rss_warm: int | None
    rss_end: int | None
    peak_sockets: int
    sockets_end: int | None
    tasks_end: list[str]
    server_streams_end: int
    rss_bound: int = 16 * 1024 * 1024
    notes: list[str] = field(default_factory=list)

    @property
    def unexpected(self) -> list[Result]:
        return [r for r in self.results if r.verdict.startswith("UNEXPECTED")]

    @property
    def rss_growth(self) -> int | None:
        if self.rss_warm is None or self.rss_end is None:
            return None
        return self.rss_end - self.rss_warm

    @property
    def ok(self) -> bool:
        growth = self.rss_growth
        return (
            len(self.results) == self.streams
            and not self.unexpected
            and (growth is None or growth < self.rss_bound)
            and self.sockets_end in (0, None)
            and not self.tasks_end
            and self.server_streams_end == 0
        )

    def table(self) -> str:
        by: dict[str, Counter[str]] = {}
        for r in self.results:
            by.setdefault(r.scenario, Counter())[r.verdict] += 1
        width = max(len(n) for n in SCENARIOS)
        lines = [f"{'scenario':<{width}}  streams  outcome"]
        for name in SCENARIOS:
            counts = by.get(name, Counter())
            outcome = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
            lines.append(f"{name:<{width}}  {sum(counts.values()):>7}  {outcome}")
        lines += ["", *self._totals()]
        return "\n".join(lines)

    def _totals(self) -> list[str]:
        modes = Counter(r.mode for r in self.results)
        p99 = sorted(r.seconds for r in self.results)[int(0.99 * (len(self.results) - 1))]
        mib = 1024 * 1024

        def size(value: int | None) -> str:
            return "n/a" if value is None else f"{value / mib:.1f} MiB"

        growth = self.rss_growth
        rate = len(self.results) / self.seconds
        return [
            f"streams      {len(self.results)} of {self.streams} "
            f"({modes['normal']} normal, {modes['agent']} agent), "
            f"{self.concurrency} at a time, seed {self.seed}",
            f"unexpected   {len(self.unexpected)}",
            f"time         {self.seconds:.1f} s ({rate:.0f} streams/s), "
            f"{self.requests} requests served, p99 stream {p99:.2f} s",
            f"RSS          {size(self.rss_warm)} after warm-up -> {size(self.rss_end)} at the end "
            f"(growth {size(growth)}, bound {size(self.rss_bound)})",
            f"sockets      peak {self.peak_sockets}, at the end {self.sockets_end}",
            f"tasks        pending at the end {len(self.tasks_end)}",
            f"server       open streams at the end {self.server_streams_end}",
            f"result       {'PASS' if self.ok else 'FAIL'}",
        ]


async def soak(streams: int, concurrency: int, seed: int, warmup: int | None = None) -> Report:
    rng = random.Random(seed)
    plans = {i: draw_plan(rng, i) for i in range(streams)}
    warmup = min(streams, warmup if warmup is not None else max(concurrency, streams // 10))
    results: list[Result] = []
    peak_sockets = 0
    rss_warm: int | None = None
    requests = 0
    started = time.monotonic()
    async with LocalMistral(api_key=API_KEY, responder=Responder(plans)) as server:
        server.add_agent(AGENT_ID, name="soak")
        models: dict[Mode, LLM] = {
            "normal": LLM(api_key=API_KEY, base_url=server.base_url),
            "agent": LLM(model=AGENT_ID, mode="agent", api_key=API_KEY, base_url=server.base_url),
        }

        async def run_batch(indexes: range) -> None:
            nonlocal requests
            pending = iter(indexes)

            async def worker() -> None:
                nonlocal peak_sockets, requests
                for i in pending:
                    results.append(await run_one(models[plans[i].mode], plans[i]))
                    if i % 50 == 0:
                        peak_sockets = max(peak_sockets, tcp_sockets(server.port) or 0)
                        # the server's recording is its memory, not the plugin's: drop it
                        requests += len(server.requests)
                        server.requests.clear()
                        server.usage_reports.clear()

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            requests += len(server.requests)
            server.requests.clear()
            server.usage_reports.clear()

        await run_batch(range(warmup))
        gc.collect()
        rss_warm = rss_bytes()
        await run_batch(range(warmup, streams))
        seconds = time.monotonic() - started
        for model in models.values():
            await model.aclose()
        await settle(lambda: server.open_streams == 0 and tcp_sockets(server.port) in (0, None))
        await settle(lambda: not pending_tasks())
        gc.collect()
        return Report(
            streams=streams,
            concurrency=concurrency,
            seed=seed,
            results=results,
            seconds=seconds,
            requests=requests,
            rss_warm=rss_warm,
            rss_end=rss_bytes(),
            peak_sockets=peak_sockets,
            sockets_end=tcp_sockets(server.port),
            tasks_end=[t.get_name() for t in pending_tasks()],
            server_streams_end=server.open_streams,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument(
        "--verbose", action="store_true", help="show LiveKit's retry warnings (thousands)"
    )
    args = parser.parse_args(argv)
    if not args.verbose:
        logging.getLogger("livekit").setLevel(logging.ERROR)
    report = asyncio.run(soak(args.streams, args.concurrency, args.seed))
    print(report.table())
    for result in report.unexpected[:20]:
        print(f"  #{result.scenario} ({result.mode}): {result.verdict}", file=sys.stderr)
    if report.tasks_end:
        print(f"  pending tasks: {report.tasks_end[:10]}", file=sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
