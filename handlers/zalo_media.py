"""Charts and reports on Zalo, which takes photos by URL and no files: what to send for a
reply with an attachment, given PUBLIC_BASE_URL (links to `/media/<signed token>`, served by
the web application, handlers/web.py) or not."""

from __future__ import annotations

from collections.abc import Callable

from bot import media
from bot.events import Outcome, Reply


def plan(outcome: Outcome, *, render: Callable[[Outcome], list[str]],
         public_base_url: str | None, key: bytes) -> list[tuple[str, str, str]]:
    """What to send, in order: ("text", text, "") and ("photo", url, caption). A chart
    is a photo by URL when PUBLIC_BASE_URL is set, else left out (the text says it all);
    a report (Zalo takes no documents) a link, else a word on where to get it."""
    out: list[tuple[str, str, str]] = []
    plain: list[Reply] = []
    toast = outcome.toast

    def flush() -> None:
        nonlocal toast
        if plain or toast:
            out.extend(("text", t, "") for t in render(
                Outcome(list(plain), locale=outcome.locale, toast=toast)))
        plain.clear()
        toast = None

    for reply in outcome.replies:
        att = reply.attachment
        if att is None:
            plain.append(reply)
            continue
        flush()
        url = media.media_url(public_base_url, key, att) if public_base_url else None
        if att.kind == "chart":
            if url:
                caption = render(Outcome([Reply(reply.text)], locale=outcome.locale))
                out.append(("photo", url, caption[0] if caption else ""))
            continue
        extra = (media.link_text(url, outcome.locale) if url
                 else media.no_documents_text(att, outcome.locale))
        plain.append(Reply(f"{reply.text}\n\n{extra}", reply.options))
    flush()
    return out
