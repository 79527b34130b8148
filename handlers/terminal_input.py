"""Standard input for the terminal channel, read by the event loop itself: lines from a
pipe or a file, or the line being typed at a terminal.

No thread blocks in `read()`: the loop watches the file descriptor (`add_reader`) and reads
only what is there, so a signal (Ctrl-C) is handled at once instead of after the next Enter.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import signal
import termios
import unicodedata
from collections import deque
from typing import TextIO


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


def width(text: str) -> int:
    """Columns `text` takes on a terminal: wide (CJK, emoji) 2, combining marks 0."""
    return sum(0 if unicodedata.combining(c) else
               2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


class LineEditor:
    """The line being typed at a terminal, kept at the bottom of the screen: text printed
    meanwhile (a reply, an alert) goes above it, and the line is drawn again below as typed
    so far. The terminal is put in non-canonical mode without echo, so the keys are seen as
    they come; signals stay on (Ctrl-C is still SIGINT). `close()` puts the terminal back.

    Keys: text, Enter, Backspace, Ctrl-U (the line), Ctrl-W (a word), Ctrl-D on an empty
    line (the end). Other control keys and escape sequences (arrows) are ignored."""

    def __init__(self, fd: int, out: TextIO, prompt: str = "> ") -> None:
        self.fd = fd
        self.out = out
        self.prompt = prompt
        self._text = ""
        self._drawn = ""      # what the bottom line shows now
        self._escape = ""     # an escape sequence being skipped
        self._saved = termios.tcgetattr(fd)
        raw = termios.tcgetattr(fd)
        raw[3] &= ~(termios.ICANON | termios.ECHO | termios.IEXTEN)
        raw[6][termios.VMIN], raw[6][termios.VTIME] = 1, 0
        self._raw = raw
        self._keys = codecs.getincrementaldecoder("utf-8")("replace")
        self._queue: deque[str] = deque()
        self._eof = False
        self._ready = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        termios.tcsetattr(fd, termios.TCSADRAIN, raw)
        self._loop.add_reader(fd, self._on_readable)
        # Back from Ctrl-Z: the shell may have reset the terminal meanwhile.
        self._loop.add_signal_handler(signal.SIGCONT, self._resume)

    def close(self) -> None:
        self._loop.remove_reader(self.fd)
        self._loop.remove_signal_handler(signal.SIGCONT)
        if self._drawn:
            self._write("\n")
            self._drawn = ""
        termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)

    async def readline(self) -> str | None:
        while not self._queue:
            if self._eof:
                return None
            self._ready.clear()
            await self._ready.wait()
        return self._queue.popleft()

    def say(self, text: str) -> None:
        """Print `text` (and a line end) above the line being typed."""
        self._erase()
        self._write(text + "\n")
        self._draw()

    # ------------------------------------------------------------------ keys

    def _on_readable(self) -> None:
        try:
            data = os.read(self.fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:   # the terminal has gone
            self._end()
            return
        for key in self._keys.decode(data):
            self._key(key)

    def _key(self, key: str) -> None:
        if self._escape:   # skipped whole: ESC x (Alt-x), ESC O x, ESC [ params final
            self._escape += key
            if len(self._escape) == 2:
                if key not in "[O":
                    self._escape = ""
            elif self._escape[1] == "O" or "@" <= key <= "~":
                self._escape = ""
            return
        if key in "\r\n":
            self._queue.append(self._text + "\n")
            self._write("\n")
            self._text = self._drawn = ""
            self._draw()
            self._ready.set()
        elif key in "\x7f\b":
            self._edit(self._text[:-1])
        elif key == "\x15":
            self._edit("")
        elif key == "\x17":
            head = self._text.rstrip()
            self._edit(head[:head.rfind(" ") + 1])
        elif key == "\x04":
            if not self._text:
                self._end()
        elif key == "\x1b":
            self._escape = key
        elif key == "\t":
            self._type(" ")
        elif key.isprintable():
            self._type(key)

    def _type(self, key: str) -> None:
        self._text += key
        self._drawn += key
        self._write(key)   # the terminal wraps the line itself

    def _edit(self, text: str) -> None:
        self._erase()
        self._text = text
        self._draw()

    def _end(self) -> None:
        self._eof = True
        self._loop.remove_reader(self.fd)
        self._ready.set()

    def _resume(self) -> None:
        termios.tcsetattr(self.fd, termios.TCSADRAIN, self._raw)
        self._drawn = ""
        self._draw()

    # ------------------------------------------------------------------ screen

    def _erase(self) -> None:
        """Back to the start of the bottom line (it may have wrapped) and clear below."""
        columns = os.get_terminal_size(self.out.fileno()).columns if self.out.isatty() else 80
        rows = (width(self._drawn) - 1) // max(columns, 1) if self._drawn else 0
        self._write("\r" + (f"\x1b[{rows}A" if rows else "") + "\x1b[J")
        self._drawn = ""

    def _draw(self) -> None:
        self._drawn = self.prompt + self._text
        self._write(self._drawn)

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()
