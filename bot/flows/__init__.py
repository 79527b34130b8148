"""The conversations, declared as data: one module per flow, each listing its steps, the
steps each one may move to, and the commands that open it. `FLOWS.md` beside this file draws
them all (regenerate it with `python -m bot.flows`; a test fails while it is stale)."""

from __future__ import annotations

from bot.flows import (
    campaigns,
    drafts,
    home,
    on_behalf,
    onboarding,
    profile,
    progress,
    review,
    submission,
    summary,
)
from bot.flows.engine import Dispatcher, Registry

FLOWS = (home.FLOW, onboarding.FLOW, submission.FLOW, on_behalf.FLOW, summary.FLOW,
         drafts.FLOW, review.FLOW, profile.FLOW, progress.FLOW,
         campaigns.FLOW)
REGISTRY = Registry(FLOWS)
DISPATCHER = Dispatcher(REGISTRY)
COMMANDS = REGISTRY.words   # a typed word (no accents, no slash) → its action

__all__ = ["COMMANDS", "DISPATCHER", "FLOWS", "REGISTRY"]
