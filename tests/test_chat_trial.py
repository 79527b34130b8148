"""What a trial of the product as its users would use it found, each kept fixed: a worker
typing command words with spaces, a chair's campaign left at its preview, the placeholders
shown as they are typed, a date written day first, /tiendo with a phase it does not know."""

from __future__ import annotations

from bot.core import Core
from tests.driver import Chat
from tests.test_people import invite


async def chair(core: Core, user: str = "c1", unit: str = "BPC-PR") -> Chat:
    chat = Chat(core, user)
    await chat.say(await invite(core, "chair", unit))
    await chat.say("/ngonngu")
    await chat.press("English")
    return chat


async def to_campaign_text(chat: Chat) -> str:
    await chat.say("/chiendich")
    await chat.press("New campaign")
    await chat.press("Every member")
    await chat.press("Skip")     # the bloc
    await chat.press("Skip")     # the cluster
    return await chat.say("25/12/2030 08:00")


async def test_a_campaign_left_at_its_preview_is_confirmed_or_dropped_later(core: Core) -> None:
    chat = await chair(core)
    asked = await to_campaign_text(chat)   # a date as written in Vietnam: day first
    assert "Type the message" in asked
    assert "{ten} name" in asked and "{{" not in asked     # the placeholders as typed
    preview = await chat.say("Hello {ten}")
    assert "Preview" in preview and "once, 25/12/2030 08:00" in preview
    await chat.say("/huy")                  # left at the preview: a draft campaign
    await chat.say("/chiendich")
    await chat.press("#1")
    assert "draft" in chat.last.replies[-1].text
    assert "Preview and confirm" in chat.labels()
    again = await chat.press("Preview and confirm")
    assert "Preview" in again and chat.labels() == ["Confirm", "Cancel"]
    done = await chat.press("Confirm")
    assert "Confirmed: campaign #1 is scheduled." in done

    await to_campaign_text(chat)
    await chat.say("Another one")
    await chat.say("/huy")
    await chat.say("/chiendich")
    await chat.press("#2")
    dropped = await chat.press("Cancel the campaign")
    assert "Campaign #2 is now cancelled." in dropped
