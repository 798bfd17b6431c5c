"""Provider type -> notifier. Adding a provider is one module and one line here."""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urlsplit

from imagebot.retry import Backoff

from ._model import Event, NotifyConfigError, ProviderSettings, ProviderType
from ._post import WebhookNotifier
from .discord import DiscordNotifier
from .generic import GenericHMACNotifier, GenericNotifier
from .msteams import TeamsNotifier
from .slack import SlackNotifier


class Notifier(Protocol):
    async def send(self, event: Event) -> None:
        """Deliver one event, retrying transient failures; raise NotifyError when it cannot."""
        ...


_NOTIFIERS: dict[ProviderType, type[WebhookNotifier]] = {
    ProviderType.SLACK: SlackNotifier,
    ProviderType.MSTEAMS: TeamsNotifier,
    ProviderType.DISCORD: DiscordNotifier,
    ProviderType.GENERIC: GenericNotifier,
    ProviderType.GENERIC_HMAC: GenericHMACNotifier,
}


def notifier_for(settings: ProviderSettings, *, retries: int = 3, backoff: Backoff | None = None) -> Notifier:
    """The notifier for a Provider; NotifyConfigError (without the address) when it cannot work."""
    where = f"Provider {settings.ref}"
    try:
        parts = urlsplit(settings.address)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid:
        raise NotifyConfigError(
            f"{where}: the address is not an http(s) URL; set `address` in the Provider's secret "
            f"(or spec.address) to the webhook URL"
        )
    if settings.type is ProviderType.GENERIC_HMAC and not settings.hmac_key:
        raise NotifyConfigError(
            f"{where}: type generic-hmac needs an HMAC key: add a `token` key to the Provider's secret"
        )
    if settings.timeout <= 0:
        raise NotifyConfigError(f"{where}: timeout must be positive, not {settings.timeout}")
    return _NOTIFIERS[settings.type](settings, retries=retries, backoff=backoff)
