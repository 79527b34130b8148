"""A real process on a pseudo-terminal, as a person at a terminal runs it: the pty is its
controlling terminal, so Ctrl-C typed into it reaches the process as SIGINT."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import termios
import time
from collections.abc import Sequence
from pathlib import Path


def _take_the_terminal() -> None:  # runs in the child, after setsid
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtyProcess:
    """`argv` with standard input, output and error on a new 100×30 pty."""

    def __init__(self, argv: Sequence[str], *, env: dict[str, str], cwd: Path) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        self.proc = subprocess.Popen(
            list(argv), stdin=slave, stdout=slave, stderr=slave, env={"TERM": "xterm", **env},
            cwd=cwd, start_new_session=True, preexec_fn=_take_the_terminal)
        os.close(slave)
        self.output = ""
        self._seen = 0  # where the next `expect` starts looking

    def __enter__(self) -> PtyProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        os.close(self.master)

    def _read(self, timeout: float) -> bool:
        """Read what is there within `timeout`; False once the process has closed the pty."""
        ready, _, _ = select.select([self.master], [], [], max(timeout, 0))
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:   # EIO: every process holding the terminal has gone
            return False
        self.output += data.decode("utf-8", "replace")
        return bool(data)

    def expect(self, text: str, timeout: float = 30) -> str:
        """Wait until `text` appears after what earlier calls matched; the output up to it."""
        deadline = time.monotonic() + timeout
        while (at := self.output.find(text, self._seen)) < 0:
            if time.monotonic() > deadline or not self._read(deadline - time.monotonic()):
                raise AssertionError(f"{text!r} did not appear; the screen so far:\n"
                                     f"{self.output}")
        start, self._seen = self._seen, at + len(text)
        return self.output[start:self._seen]

    def type(self, text: str) -> None:
        """Keys as a person types them (Enter is "\\r")."""
        os.write(self.master, text.encode())

    def wait(self, timeout: float) -> int:
        """The exit code, reading the screen meanwhile; raises TimeoutError if still running."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"still running after {timeout} s:\n{self.output}")
            if not self._read(min(0.05, deadline - time.monotonic())):
                break
        code = self.proc.wait(max(deadline - time.monotonic(), 0.1))
        while self._read(0):
            pass
        return code
