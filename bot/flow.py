"""The conversation: every step and every transition, in one place.

    /start ─(new user)─▶ ob_language ─▶ ob_unit ─▶ ob_name ─▶ idle
    /start <unit code> ─▶ ob_language ─▶ ob_name ─▶ idle        (QR poster deep link)
    /start <code> or a typed code ─▶ invite (role) | link (/lienket) | claim (kê khai hộ)

    idle ─/sangkien─▶ title ─▶ description ─▶ field ─▶ applied ─▶ recognized ─▶ benefit
         ─▶ benefit_confirm ─▶ coauthors ─▶ unit ─▶ attachments ─▶ summary
    idle ─/khaiho──▶ author_name ─▶ author_phone ─▶ author_unit ─▶ title ─▶ … ─▶ summary
         (support team or chair, for workers of units in their scope)
    recognized: "not yet" ─▶ idle (draft kept)
    summary: submit ─▶ idle (code shown) · edit ─▶ edit ─▶ <field> ─▶ summary
             keep ─▶ idle · discard ─▶ discard ─▶ idle | summary
    /nhap ─▶ drafts ─▶ draft_actions ─▶ <the draft's step> | discard
    /cuatoi ─▶ mine (paged) · /hoso ─▶ profile ─▶ ob_name | ob_unit | language
    /moi ─▶ invites (chair) · /lienket ─▶ idle (code shown) · /ngonngu ─▶ language ─▶ back
    a command inside a draft ─▶ interrupt ─▶ back to the step | the command
    /huy anywhere ─▶ idle (draft kept) · /trogiup anywhere ─▶ help, then the same step

    review (bot/review.py): an alert's button or /hople · /bosung · /khonghople CODE
         ─▶ (review_reason) ─▶ idle; /xem CODE ─▶ view ─▶ an action; /choduyet ─▶ pending
         ─▶ view; a returned initiative: /suasangkien CODE ─▶ summary ─▶ resubmitted

`bot/steps.py` holds the registry and dispatch; the steps themselves are in `home.py`,
`submission.py`, `profile.py` and `review.py`. Importing this module registers them all.
"""

from __future__ import annotations

from bot import home, profile, review, submission  # noqa: F401  (registers steps, commands)
from bot.steps import ACTIONS, COMMANDS, STEPS, handle

__all__ = ["ACTIONS", "COMMANDS", "STEPS", "handle"]
