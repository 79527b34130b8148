"""Charts and reports on Telegram: a reply's attachment made (`bot.media.produce`) and sent
as a photo (sendPhoto) or a document (sendDocument), multipart, its text as the caption."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Bot, InputFile
from telegram.constants import MessageLimit

from bot import media
from bot.events import Reply

log = logging.getLogger(__name__)


async def send_any(bot: Bot, core: Any, chat_id: int, reply: Reply, locale: str) -> None:
    """A reply as a message (`handlers.telegram.send_reply`), or with its file (made from
    the core's database)."""
    if reply.attachment is not None:
        await send_attachment(bot, core.engine, chat_id, reply, locale)
    else:
        from handlers.telegram import send_reply  # that module imports this one
        await send_reply(bot, chat_id, reply)


async def send_attachment(bot: Bot, engine: Any, chat_id: int | str, reply: Reply,
                          locale: str) -> None:
    """A reply with a chart (sendPhoto) or a report (sendDocument), its text the caption.
    The file is made now (`bot.media.produce`); should that fail, the text goes alone with
    a word on why."""
    from handlers.telegram import send_reply

    assert reply.attachment is not None
    note = None
    try:
        made = None if engine is None else await media.produce(engine, reply.attachment)
    except Exception:
        log.exception("telegram: the %s for chat %s could not be made",
                      reply.attachment.kind, chat_id)
        made = None
        note = media.not_now_text(reply.attachment, locale)
    if engine is None:      # a sender with no database to make it from
        note = media.not_now_text(reply.attachment, locale)
    if made is None:
        note = note or media.not_produced_text(locale)
        await send_reply(bot, chat_id, Reply(f"{reply.text}\n\n{note}", reply.options))
        return
    caption = reply.text if len(reply.text) <= MessageLimit.CAPTION_LENGTH else None
    kwargs: dict[str, Any] = {"chat_id": chat_id, "caption": caption, "parse_mode": "HTML"}
    upload = InputFile(made.data, filename=made.name)
    if made.photo:
        await bot.send_photo(photo=upload, **kwargs)
    else:
        await bot.send_document(document=upload, **kwargs)
    if caption is None or reply.options:
        await send_reply(bot, chat_id, reply if caption is None else Reply(
            "⬆️", reply.options))
