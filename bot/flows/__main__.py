"""`python -m bot.flows`: write bot/flows/FLOWS.md from the flows' declarations."""

from bot.flows import REGISTRY
from bot.flows.overview import PATH, render

PATH.write_text(render(REGISTRY), encoding="utf-8")
print(f"wrote {PATH}")
