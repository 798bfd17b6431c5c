"""Policy files: Flux's objects read from YAML, checked, and linked; secrets from files."""

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
