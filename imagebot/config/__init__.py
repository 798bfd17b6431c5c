"""Policy files: Flux's objects read from YAML, checked, and linked; secrets from files.

Names load from their modules on first use: `imagebot policy eval` needs `parse_duration`, not the
pydantic models and the CRD schemas (a quarter of a second of start-up).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imagebot.config._config import Config, LoadedConfig, load_config
    from imagebot.config.durations import format_duration, parse_duration
    from imagebot.config.models import (
        Alert,
        FluxObject,
        GitRepository,
        ImagePolicy,
        ImageRepository,
        ImageUpdateAutomation,
        Provider,
        Receiver,
    )
    from imagebot.config.problems import ConfigError, Problem
    from imagebot.config.secrets import SecretError, SecretStore

_MODULE_OF = {
    "Config": "_config", "LoadedConfig": "_config", "load_config": "_config",
    "format_duration": "durations", "parse_duration": "durations",
    "Alert": "models", "FluxObject": "models", "GitRepository": "models", "ImagePolicy": "models",
    "ImageRepository": "models", "ImageUpdateAutomation": "models", "Provider": "models", "Receiver": "models",
    "ConfigError": "problems", "Problem": "problems",
    "SecretError": "secrets", "SecretStore": "secrets",
}

__all__ = [
    "Alert",
    "Config",
    "ConfigError",
    "FluxObject",
    "GitRepository",
    "ImagePolicy",
    "ImageRepository",
    "ImageUpdateAutomation",
    "LoadedConfig",
    "Problem",
    "Provider",
    "Receiver",
    "SecretError",
    "SecretStore",
    "format_duration",
    "load_config",
    "parse_duration",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"imagebot.config.{module}"), name)
    globals()[name] = value
    return value
