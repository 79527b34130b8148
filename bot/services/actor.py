"""Who asks a service to act: a person writing from a chat, or the administrator at the
server's shell (the CLI), who is trusted because they hold the server."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    person_id: int | None      # None: the shell
    channel: str = "cli"

    @classmethod
    def shell(cls) -> Actor:
        return cls(person_id=None, channel="cli")

    @property
    def is_shell(self) -> bool:
        return self.person_id is None
