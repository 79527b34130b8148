"""Which terminal user a chat is: one person per chat open at the same time.

The first chat open on a database is `demo-worker`, a second one open meanwhile (say
`sangkien chat` beside `./scripts/run`) `demo-worker-2`, and so on. Each is the same person
again the next time, so a demo keeps its profile, drafts and roles across restarts, while
two windows never take over one conversation. A user is "open" while a process holds an
exclusive lock on its file in the runtime folder; the lock goes with the process.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import re
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:   # Windows: no locks, every chat is the first user
    fcntl = None  # type: ignore[assignment]

DEFAULT_USER = "demo-worker"
log = logging.getLogger(__name__)


def lock_folder() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"sangkien-{os.getuid() if hasattr(os, 'getuid') else 'user'}"


class Seats:
    """The terminal users open on one database by the chats on this machine."""

    def __init__(self, database: str, *, folder: Path | None = None) -> None:
        self.folder = folder or lock_folder()
        self.key = hashlib.sha256(database.encode()).hexdigest()[:16]
        self._held: list[int] = []

    def take(self, wanted: str | None) -> tuple[str, bool]:
        """(user, alone): `wanted` if given — `alone` is False when another chat has it
        open — else the first of demo-worker, demo-worker-2, … that no chat has open."""
        if wanted:
            return wanted, self._lock(wanted) is not False
        for n in itertools.count(1):
            user = DEFAULT_USER if n == 1 else f"{DEFAULT_USER}-{n}"
            if self._lock(user) is not False:
                return user, True
        raise AssertionError("unreachable")

    def release(self) -> None:
        for fd in self._held:
            os.close(fd)
        self._held.clear()

    def _lock(self, user: str) -> bool | None:
        """True: locked; False: another process holds it; None: cannot tell."""
        if fcntl is None:
            return None
        name = f"{self.key}-{re.sub(r'[^A-Za-z0-9_-]', '_', user)}.lock"
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.folder / name, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            log.warning("cannot tell which terminal users are open: %s", exc)
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._held.append(fd)
        return True
