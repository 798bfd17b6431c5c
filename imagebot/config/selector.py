"""Sharding as Flux does it: `--watch-label-selector`, so each instance handles the objects whose labels match.

The selector is Kubernetes' label selector syntax (`k8s.io/apimachinery/pkg/labels.Parse`): requirements
joined by commas, each `key`, `!key`, `key=value`, `key==value`, `key!=value`, `key in (a,b)` or
`key notin (a,b)`. Flux's sharding uses `sharding.fluxcd.io/key in (shard1)` on a shard and
`sharding.fluxcd.io/key notin (shard1,shard2)` on the main instance, which takes the rest.

What is sharded: the objects that do the work, ImageRepository (scans), ImagePolicy (selection) and
ImageUpdateAutomation (delivery). GitRepository, Provider, Alert and Receiver objects only describe
where things go and are kept whole on every instance. A reference from an object of this shard to a
sharded object outside it (a policy whose ImageRepository is elsewhere, an automation whose policies are
elsewhere) cannot work here and is an error naming both objects and the labels to change.

No Python library parses this selector syntax (the Kubernetes client passes selectors to the API server
as strings), so the small grammar is parsed here, with the API server's rules for keys and values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from imagebot.config._config import Config
from imagebot.config.models import FluxObject
from imagebot.config.problems import Problem, object_problem

Operator = Literal["exists", "!", "=", "!=", "in", "notin"]

_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)*"
_KEY = re.compile(rf"(?:{_PREFIX}/)?{_NAME}")
_VALUE = re.compile(rf"(?:{_NAME})?")
_TOKEN = re.compile(r"\s*(!=|==|=|\(|\)|,|!|[^\s!=(),]+)")
MAX_SELECTOR = 4096  # bytes: a command-line option, bounded like every input


class SelectorError(ValueError):
    """The selector text is not a Kubernetes label selector; the message says where and why."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        match self.operator:
            case "exists":
                return present
            case "!":
                return not present
            case "=" | "in":
                return present and labels[self.key] in self.values
            case _:  # "!=" and "notin" match objects without the label too, as Kubernetes does
                return not present or labels[self.key] not in self.values

    def __str__(self) -> str:
        if self.operator == "exists":
            return self.key
        if self.operator == "!":
            return f"!{self.key}"
        if self.operator in ("=", "!="):
            return f"{self.key}{self.operator}{self.values[0]}"
        return f"{self.key} {self.operator} ({','.join(self.values)})"


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = field(default_factory=tuple)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def parse_selector(text: str) -> LabelSelector:
    """A selector from its text; raises SelectorError naming the position and what was expected."""
    if len(text.encode()) > MAX_SELECTOR:
        raise SelectorError(f"label selector longer than {MAX_SELECTOR} bytes")
    tokens: list[tuple[int, str]] = []
    pos = 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        m = _TOKEN.match(text, pos)
        assert m is not None  # the last alternative matches any other character run
        tokens.append((m.start(1), m.group(1)))
        pos = m.end()
    if not tokens:
        raise SelectorError("empty label selector (leave the option out to handle every object)")
    parser = _Parser(text, tokens)
    return LabelSelector(tuple(parser.requirements()))


class _Parser:
    def __init__(self, text: str, tokens: list[tuple[int, str]]) -> None:
        self.text, self.tokens, self.i = text, tokens, 0

    def fail(self, expected: str) -> SelectorError:
        if self.i >= len(self.tokens):
            return SelectorError(f"label selector {self.text!r}: expected {expected} at the end")
        at, token = self.tokens[self.i]
        return SelectorError(f"label selector {self.text!r}: expected {expected} at column {at + 1}, found {token!r}")

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self) -> str:
        token = self.tokens[self.i][1]
        self.i += 1
        return token

    def key(self) -> str:
        token = self.peek()
        if token is None or not _KEY.fullmatch(token):
            raise self.fail("a label key (prefix/name, name of at most 63 characters)")
        return self.take()

    def value(self) -> str:
        token = self.peek()
        if token is None or token in ",)":
            return ""  # an empty value is a valid label value
        if not _VALUE.fullmatch(token):
            raise self.fail("a label value (at most 63 letters, digits, '-', '_', '.')")
        return self.take()

    def requirements(self) -> list[Requirement]:
        found = [self.requirement()]
        while self.peek() == ",":
            self.take()
            found.append(self.requirement())
        if self.peek() is not None:
            raise self.fail("',' or the end")
        return found

    def requirement(self) -> Requirement:
        if self.peek() == "!":
            self.take()
            return Requirement(self.key(), "!")
        key = self.key()
        op = self.peek()
        if op is None or op == ",":
            return Requirement(key, "exists")
        if op in ("=", "==", "!="):
            self.take()
            return Requirement(key, "!=" if op == "!=" else "=", (self.value(),))
        if op in ("in", "notin"):
            self.take()
            if self.peek() != "(":
                raise self.fail("'(' after " + op)
            self.take()
            values = [self.value()]
            while self.peek() == ",":
                self.take()
                values.append(self.value())
            if self.peek() != ")":
                raise self.fail("',' or ')' in the value list")
            self.take()
            return Requirement(key, op, tuple(values))  # type: ignore[arg-type]
        raise self.fail("'=', '==', '!=', 'in', 'notin', ',' or the end after the key")


def shard(config: Config, selector: LabelSelector) -> tuple[Config, list[Problem]]:
    """The part of `config` this instance handles, and an error for each reference that crosses shards."""
    def mine(obj: FluxObject) -> bool:
        return selector.matches(obj.metadata.labels)

    part = Config(
        repositories=[r for r in config.repositories if mine(r)],
        policies=[p for p in config.policies if mine(p)],
        automations=[a for a in config.automations if mine(a)],
        git_repositories=list(config.git_repositories), receivers=list(config.receivers),
        providers=list(config.providers), alerts=list(config.alerts),
    )
    part.invalid = set(config.invalid)
    problems: list[Problem] = []
    for policy in part.policies:
        repository = config.repository_for(policy)
        if repository is not None and not mine(repository):
            problems.append(object_problem(policy, "spec.imageRepositoryRef", _across(repository, selector)))
    for automation in part.automations:
        for policy in config.policies_for(automation):
            if not mine(policy):
                problems.append(object_problem(automation, "spec.policySelector", _across(policy, selector)))
    return part, problems


def _across(other: FluxObject, selector: LabelSelector) -> str:
    labels = ",".join(f"{k}={v}" for k, v in sorted(other.metadata.labels.items())) or "none"
    return (f"refers to {other.describe()}, which is in another shard: its labels ({labels}) do not match "
            f"--watch-label-selector {str(selector)!r}; give both objects the same shard label")
