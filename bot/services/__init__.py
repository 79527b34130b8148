"""Use cases as services, apart from the chat.

Each is a function with keyword-only dependencies (`*, conn, actor, now, …`) over a
synchronous SQLAlchemy `Connection` inside the caller's transaction. It checks the actor's
scope itself, changes state, and returns a typed result (a dataclass) — never reply text.
Chat steps, the CLI, the scheduler and reports call the same functions; messages the bot
sends to other people (alerts, decisions, digests) are written to the outbox in the same
transaction, in each recipient's language (`bot.notices`).
"""
