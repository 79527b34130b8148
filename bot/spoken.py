"""Commands typed as words, without the slash: what a worker on a cheap phone types.

"huy", "Huỷ", "sangkien", "tien do DTP-YT", "bang xep hang": every channel reads a message as a
command when the whole message is exactly a command word (ignoring case, accents and
punctuation), or when it starts with one of the chair's commands that take a unit's code
(their words may be spaced: "tien do"), or is "start" followed by an invite code. Anything
else stays text for the current step; at the home menu, where no answer is waited for, a
command word typed with its spaces ("sang kien", "ban nhap") is that command too
(`bot.flows.home.Idle.text`).
"""

from __future__ import annotations

from bot.flows import COMMANDS
from storage.textfold import fold

# The chair's commands, typed without a slash with a unit's code after them ("tien do DTP-YT").
SPOKEN_WITH_ARGS = frozenset(w for w in ("tiendo", "bangxephang", "baocao") if w in COMMANDS)
_COMMAND_TEXT_MAX = 64   # command words are short, even with accents and punctuation


def spoken_command(text: str) -> tuple[str, str] | None:
    """(command, argument) when a message typed without the slash is a command; else None."""
    stripped = text.strip()
    if not stripped or stripped.startswith("/"):
        return None
    # Only a short message can be a bare command word: a long one is not folded for nothing.
    if len(stripped) <= _COMMAND_TEXT_MAX and (folded := fold(stripped)) in COMMANDS:
        return folded, ""
    words = stripped.split()
    for n in (1, 2, 3):
        head = "".join(words[:n])
        if len(words) >= n and len(head) <= _COMMAND_TEXT_MAX and fold(head) in SPOKEN_WITH_ARGS:
            return fold(head), " ".join(words[n:])
    first, _sep, rest = stripped.partition(" ")
    if rest.strip() and len(first) <= _COMMAND_TEXT_MAX and fold(first) == "start":
        return "start", rest.strip()
    return None
