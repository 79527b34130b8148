"""The scheduler's `Delivery` from the settings: quiet hours, the cap, the batch size, and
where live figures and the reports of audiences 4 and 5 come from (`bot.campaign_reports`)."""

from __future__ import annotations

from bot import campaign_reports
from bot.campaign_schedule import Cap, parse_quiet
from bot.campaign_scheduler import Delivery
from bot.config import Settings


def delivery_from(settings: Settings) -> Delivery:
    return Delivery(quiet=parse_quiet(settings.quiet_hours),
                    cap=Cap(per_day=settings.campaign_cap_day,
                            per_week=settings.campaign_cap_week),
                    batch=settings.campaign_batch, default_locale=settings.default_language,
                    figures=campaign_reports.unit_figures, report=campaign_reports.report,
                    rates={channel: rate for channel, (rate, _gap, _longest) in
                           settings.outbox_pace().items()})
