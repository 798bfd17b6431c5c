"""One loaded configuration and everything built from it (a `Generation`), and the options it is
loaded with. The engine swaps generations whole on reload, so a run sees one consistent config.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from imagebot.alerts import build_dispatcher
from imagebot.config import Config, Receiver, SecretStore, load_config
from imagebot.config.selector import LabelSelector, shard
from imagebot.notify import Dispatcher, NotifyConfigError
from imagebot.scan import Scanner
from imagebot.service.receivers import ReceiverSettings, ResourceRef
from imagebot.service.resolve import objects_named
from imagebot.service.retries import DEFAULT_MAX_RETRY_DELAY, DEFAULT_MIN_RETRY_DELAY, check_retry_delays
from imagebot.store import Store

log = logging.getLogger("imagebot.service")


@dataclass(frozen=True)
class ServiceOptions:
    """What the service is run with; the command line builds it (this package reads no argparse)."""

    config_path: Path
    secrets_dir: Path | None
    state_dir: Path
    registry_concurrency: int = 8
    ca_file: Path | None = None
    label_selector: LabelSelector | None = None  # this shard's objects only (Flux's --watch-label-selector)
    # seconds before the first retry of a failed scan or run, and the most any retry waits (Flux's flags)
    min_retry_delay: float = DEFAULT_MIN_RETRY_DELAY
    max_retry_delay: float = DEFAULT_MAX_RETRY_DELAY

    def __post_init__(self) -> None:
        check_retry_delays(self.min_retry_delay, self.max_retry_delay)


class ConfigRejected(Exception):
    """The policy files cannot be used; `problems` says why, one line each, file and line first."""

    def __init__(self, problems: list[str], objects: Iterable[tuple[str, str, str]] = ()) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
        self.objects = list(objects)  # (kind, namespace, name) named by the problems


@dataclass
class Generation:
    """One loaded configuration and everything built from it."""

    config: Config
    scanner: Scanner
    dispatcher: Dispatcher
    receivers: list[ReceiverSettings]


def load_generation(options: ServiceOptions, secrets: SecretStore, store: Store,
                    on_notify_failure: Callable[[], None] = lambda: None) -> Generation:
    """Read and check the policy files and build what runs them; raises ConfigRejected."""
    loaded = load_config(options.config_path, options.secrets_dir)
    if loaded.errors:
        raise ConfigRejected([str(p) for p in loaded.errors], objects_named(p.object for p in loaded.errors))
    for note in loaded.notes:
        log.info("config note: %s", note)
    config = loaded.config
    if options.label_selector is not None:
        config, crossing = shard(config, options.label_selector)
        if crossing:
            raise ConfigRejected([str(p) for p in crossing], objects_named(p.object for p in crossing))
    try:
        dispatcher = build_dispatcher(config, secrets, on_failure=lambda route: on_notify_failure())
        receivers = [receiver_settings(r, secrets) for r in config.receivers if not r.spec.suspend]
    except (NotifyConfigError, LookupError, ValueError) as err:
        raise ConfigRejected([str(err)]) from None
    paths = {r.path for r in receivers}
    if len(paths) != len(receivers):
        raise ConfigRejected(["two Receivers have the same webhook path (same token, name and namespace)"])
    return Generation(config, Scanner(config, secrets, store), dispatcher, receivers)


def receiver_settings(receiver: Receiver, secrets: SecretStore) -> ReceiverSettings:
    """A Receiver with its token read from its secret."""
    spec = receiver.spec
    return ReceiverSettings(
        name=receiver.metadata.name, namespace=receiver.metadata.namespace, type=spec.type,
        token=secrets.read_text(spec.secret_ref.name, "token"),
        resources=[ResourceRef(r.kind, r.name, r.namespace) for r in spec.resources], events=spec.events,
    )
