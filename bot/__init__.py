"""sangkien-bot: the channel-neutral core (flows, services, i18n, formatting, config, CLI)."""
