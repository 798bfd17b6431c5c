"""Flux Provider and Alert objects -> notify settings, with secrets resolved; events of a cycle."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from imagebot.config import Config, SecretStore

if TYPE_CHECKING:
    from imagebot.notify import AlertRule, Dispatcher, ProviderSettings, Route


def provider_settings(config: Config, secrets: SecretStore) -> list[ProviderSettings]:
    """Each Provider with its `address`, `headers` and `token` read from its secret, as Flux does."""
    from ruamel.yaml import YAML

    from imagebot.notify import ProviderSettings
    from imagebot.proxy import parse_proxy, proxy_from_secret, register_environment_credentials

    register_environment_credentials()
    settings = []
    for provider in config.providers:
        spec = provider.spec
        address, headers, token = spec.address, {}, None
        # As Flux's notification-controller: spec.proxy (deprecated), then the secret's `proxy` key
        # (deprecated), then spec.proxySecretRef; the last one set wins.
        source = f"Provider {provider.key} spec.proxy"
        proxy = parse_proxy(spec.proxy, source) if spec.proxy else None
        if spec.secret_ref:
            name = spec.secret_ref.name
            if secrets.has(name, "proxy"):
                proxy = parse_proxy(secrets.read(name, "proxy", remember=False).decode("utf-8", "replace"),
                                    f"secret '{name}' key 'proxy', deprecated: use spec.proxySecretRef", secret=name)
            if secrets.has(name, "address"):
                address = secrets.read_text(name, "address")
            if secrets.has(name, "headers"):
                loaded = YAML(typ="safe").load(secrets.read(name, "headers")) or {}
                headers = {str(k): str(v) for k, v in dict(loaded).items()}
            if secrets.has(name, "token"):
                token = secrets.read_text(name, "token")
        settings.append(ProviderSettings(
            name=provider.metadata.name, namespace=provider.metadata.namespace, type=spec.type,
            address=address or "", channel=spec.channel, username=spec.username, headers=headers,
            hmac_key=token.encode() if spec.type == "generic-hmac" and token else None,
            token=token if spec.type != "generic-hmac" else None,
            timeout=spec.timeout or 15.0, suspend=spec.suspend,
            proxy=proxy_from_secret(secrets, spec.proxy_secret_ref.name) if spec.proxy_secret_ref else proxy,
        ))
    return settings


def alert_rules(config: Config) -> list[AlertRule]:
    from imagebot.notify import AlertRule

    return [
        AlertRule(
            name=alert.metadata.name, namespace=alert.metadata.namespace, provider=alert.spec.provider_ref.name,
            event_severity=alert.spec.event_severity,
            event_sources=[(s.kind, s.name, s.namespace, s.match_labels or None) for s in alert.spec.event_sources],
            inclusion_list=alert.spec.inclusion_list, exclusion_list=alert.spec.exclusion_list,
            summary=alert.spec.summary, suspend=alert.spec.suspend, event_metadata=alert.spec.event_metadata,
        )
        for alert in config.alerts
    ]


def build_dispatcher(config: Config, secrets: SecretStore,
                     on_failure: Callable[[Route], None] | None = None) -> Dispatcher:
    """Raises NotifyConfigError or SecretError naming the object when a Provider or Alert is unusable."""
    from imagebot.notify import Dispatcher

    return Dispatcher(provider_settings(config, secrets), alert_rules(config), on_failure=on_failure)
