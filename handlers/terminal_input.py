"""Standard input for the terminal channel, read by the event loop itself.

No thread blocks in `read()`: the loop watches the file descriptor (`add_reader`) and reads
only what is there, so a signal (Ctrl-C) is handled at once instead of after the next Enter.
"""

from __future__ import annotations

import asyncio
import codecs
import os
from collections import deque


class FdLines:
    """Lines from a file descriptor: a terminal (a line at each Enter), a pipe or a file.

    A regular file (or /dev/null) cannot be watched, but reading it never waits: it is
    then read directly."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._partial = ""
        self._lines: deque[str] = deque()
        self._eof = False
        self._ready = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        try:
            self._loop.add_reader(fd, self._on_readable)
            self._watched = True
        except (PermissionError, OSError):  # epoll refuses regular files
            self._watched = False

    def close(self) -> None:
        if self._watched:
            self._loop.remove_reader(self.fd)
            self._watched = False

    def _on_readable(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError:   # EIO: the terminal has gone
            data = b""
        self.feed(data)

    def feed(self, data: bytes) -> None:
        """Bytes read (b"" at the end of input) → complete lines."""
        if data:
            self._partial += self._decoder.decode(data)
            *lines, self._partial = self._partial.split("\n")
            self._lines.extend(line + "\n" for line in lines)
        else:
            rest = self._partial + self._decoder.decode(b"", final=True)
            if rest:
                self._lines.append(rest)
            self._partial = ""
            self._eof = True
            self.close()
        self._ready.set()

    async def readline(self) -> str | None:
        """The next line with its "\\n" (the last one may lack it); None at the end."""
        while not self._lines:
            if self._eof:
                return None
            if not self._watched:
                self._on_readable()
                continue
            self._ready.clear()
            await self._ready.wait()
        return self._lines.popleft()
