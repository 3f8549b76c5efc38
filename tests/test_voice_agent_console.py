"""``python examples/voice_agent.py console --text``, driven as a user would: in a
pseudo-terminal, typing one key at a time, reading the agent's answers off the screen.

No key and no LiveKit server: the example starts the bundled local Mistral server, whose demo
brain calls ``get_weather`` when the question says "weather". Every wait is bounded, and the
process group is killed whatever happens.
"""

from __future__ import annotations

import ctypes.util
import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[1] / "examples" / "voice_agent.py"
ROWS, COLUMNS = 50, 200  # wide enough that no answer wraps
STARTUP_TIMEOUT = 45.0
ANSWER_TIMEOUT = 15.0
KEY_ECHO_TIMEOUT = 5.0
EXIT_TIMEOUT = 15.0

_ESCAPES = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-Za-z]|[=>])")
_PROMPT = "\u276f "  # LiveKit's console prompt, then the typed text, then a block cursor
_CURSOR = "\u2588"

pytestmark = pytest.mark.skipif(
    ctypes.util.find_library("portaudio") is None,
    reason="LiveKit's console checks audio devices even with --text and needs PortAudio "
    "(Debian/Ubuntu: apt-get install libportaudio2; .ci/run installs it)",
)


class Terminal:
    """The master side of a pseudo-terminal running one process in its own session."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        self.process = subprocess.Popen(
            args, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, start_new_session=True
        )
        os.close(slave)
        self.fd = master
        self.raw = b""

    def screen(self, since: int = 0) -> str:
        """Everything written from byte ``since`` on, without escape sequences."""
        return _ESCAPES.sub("", self.raw[since:].decode(errors="ignore"))

    def wait_for(self, pattern: str, timeout: float, since: int = 0) -> re.Match[str]:
        """Read until ``pattern`` (a regex) shows up after byte ``since``."""
        deadline = time.monotonic() + timeout
        while (found := re.search(pattern, self.screen(since))) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(min(remaining, 0.05)):
                if self.process.poll() is not None or remaining <= 0:
                    tail = self.screen(since)[-3000:]
                    raise AssertionError(f"{pattern!r} not shown; the screen ends with:\n{tail}")
        return found

    def _read(self, timeout: float) -> bool:
        """Read what is available; False once the process side is closed."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the process closed the terminal
            return False
        self.raw += data
        return bool(data)

    def type_line(self, line: str) -> int:
        """Type ``line`` key by key, then Enter; returns the byte offset where it was sent.

        LiveKit's prompt reads one key at a time and flushes pending input each time it
        starts reading, so a key typed while it is busy is lost. It switches the terminal out
        of canonical mode while it waits for a key: each key is sent only then.
        """
        for n, key in enumerate(line):
            self._send_key(key, re.escape(_PROMPT + line[: n + 1] + _CURSOR))
        mark = len(self.raw)
        self._send_key("\r", r"\u25cf You\s+" + re.escape(line))
        return mark

    def _send_key(self, key: str, echo: str) -> None:
        """Send ``key`` once the prompt waits for one, then read until ``echo`` shows."""
        deadline = time.monotonic() + KEY_ECHO_TIMEOUT
        while termios.tcgetattr(self.fd)[3] & termios.ICANON:
            if time.monotonic() > deadline or not self._read(0.005):
                raise AssertionError(
                    f"the console never waited for a key; screen:\n{self.screen()[-3000:]}"
                )
        mark = len(self.raw)
        os.write(self.fd, key.encode())
        self.wait_for(echo, KEY_ECHO_TIMEOUT, since=mark)

    def interrupt(self) -> int:
        """Ctrl+C as the terminal sends it to the foreground process; returns the exit code."""
        self.process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + EXIT_TIMEOUT
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.05)
        return self.process.wait(timeout=0.1)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        os.close(self.fd)


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Terminal]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MISTRAL_", "LIVEKIT_"))
    }
    env.update(TERM="xterm-256color", PYTHONUNBUFFERED="1")
    # run from an empty directory: nothing the console writes lands in the repository
    terminal = Terminal([sys.executable, str(EXAMPLE), "console", "--text"], env, tmp_path)
    try:
        yield terminal
    finally:
        terminal.kill()


def test_console_text_mode_chats_and_uses_a_tool(console: Terminal) -> None:
    console.wait_for(r"No MISTRAL_API_KEY: using the bundled local Mistral server", STARTUP_TIMEOUT)
    console.wait_for(r"Type to talk to your agent", STARTUP_TIMEOUT)

    asked = console.type_line("What's the weather in Paris?")
    console.wait_for(r"get_weather\s+\S+ sunny, 21 degrees Celsius in Paris", ANSWER_TIMEOUT, asked)
    answer = r"\u25cf Agent\s+Here is what I found: sunny, 21 degrees Celsius in Paris"
    console.wait_for(answer, ANSWER_TIMEOUT, asked)

    console.wait_for(r"Type to talk to your agent", ANSWER_TIMEOUT, asked)
    asked = console.type_line("Hello, who are you?")
    console.wait_for(r"\u25cf Agent\s+You said: Hello, who are you\?", ANSWER_TIMEOUT, asked)
    assert "get_weather" not in console.screen(asked)  # no tool this time

    assert console.interrupt() == 0
