"""The `imagebot` command line.

Every public module in this package is one command (or one command group): it defines
`register(subparsers)`, which adds its parser and sets `handler` to a function taking the parsed
arguments and returning the exit code. Modules import their heavy dependencies inside the
handler so that `imagebot --help` and `imagebot policy eval` start fast.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from imagebot import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imagebot",
        description="Watch container registries and update image references in Git, byte-exact.",
    )
    parser.add_argument("--version", action="version", version=f"imagebot {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(subparsers)
    return parser


def _skip_httpx_command_line() -> None:
    """Keep `import httpx` from loading httpx's own command-line client.

    httpx's __init__ runs `from ._main import main`, which imports click, rich and pygments: about half
    of httpx's import time, a tenth of `imagebot plan`'s whole start-up, for a tool imagebot never
    runs. An empty stand-in makes that import fail, and httpx falls back exactly as it does when
    those packages are not installed (its documented `except ImportError`); httpx itself is unchanged.
    """
    if "httpx" not in sys.modules:
        import types

        sys.modules.setdefault("httpx._main", types.ModuleType("httpx._main"))


def main(argv: Sequence[str] | None = None) -> int:
    # Start-up makes some 100,000 objects that live as long as the process (modules, classes, pydantic
    # schemas): the cyclic collector walked them again and again for nothing, a tenth of a second of
    # `imagebot plan`. It is off until a command has started; see imagebot.cli._common.started().
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _main(argv)
    finally:  # as it was (main() also runs inside other programs: tests, the container's entry point)
        gc.unfreeze()
        if collecting:
            gc.enable()
        else:
            gc.disable()


def _main(argv: Sequence[str] | None) -> int:
    _skip_httpx_command_line()
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    if not getattr(args, "starts_itself", False):  # the command calls started() once it has loaded
        gc.enable()
    from imagebot.logs import setup_logging

    setup_logging("text", "warning")  # `run` sets its own format and level
    try:
        return int(handler(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
