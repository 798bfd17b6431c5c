"""Alert matching with Flux's semantics: sources, severity, inclusion and exclusion lists."""

from __future__ import annotations

import asyncio

import pytest

from imagebot.notify import AlertRule, Dispatcher, NotifyConfigError, ObjectRef, ProviderSettings
from tests.notify.events import delivery, failure

WEB = ObjectRef("ImageUpdateAutomation", "flux-system", "apps")
OTHER_NS = ObjectRef("ImageUpdateAutomation", "team-a", "apps")
REPO = ObjectRef("ImageRepository", "flux-system", "web")


def alert(**fields: object) -> AlertRule:
    base: dict[str, object] = dict(
        name="a", namespace="flux-system", provider="p", event_sources=[("ImageUpdateAutomation", "*")]
    )
    base.update(fields)
    return AlertRule(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rule", "event", "expected"),
    [
        # sources: kind, exact name or `*`, namespace defaulting to the Alert's
        (alert(), delivery(), True),
        (alert(event_sources=[("ImageUpdateAutomation", "apps")]), delivery(), True),
        (alert(event_sources=[("ImageUpdateAutomation", "other")]), delivery(), False),
        (alert(event_sources=[("ImageRepository", "*")]), delivery(), False),
        (alert(event_sources=[("ImageRepository", "*")]), failure(involved_object=REPO), True),
        (alert(), delivery(involved_object=OTHER_NS), False),
        (alert(event_sources=[("ImageUpdateAutomation", "*", "team-a")]), delivery(involved_object=OTHER_NS), True),
        (alert(event_sources=[]), delivery(), False),
        # severity: info takes everything, error only errors
        (alert(event_severity="info"), failure(), True),
        (alert(event_severity="error"), delivery(), False),
        (alert(event_severity="error"), failure(), True),
        # inclusion and exclusion match anywhere in the message (Go regexp, unanchored)
        (alert(inclusion_list=["images? in apps"]), delivery(), True),
        (alert(inclusion_list=["^rejected"]), failure(), False),
        (alert(exclusion_list=["non-fast-forward"]), failure(), False),
        (alert(inclusion_list=[".*push.*"], exclusion_list=["fast-forward"]), failure(), False),  # exclusion wins
        (alert(suspend=True), delivery(), False),
        # matchLabels with name `*`: only objects carrying those labels (ignored with a name, as in Flux)
        (alert(event_sources=[("ImageUpdateAutomation", "*", None, {"team": "web"})]),
         delivery(labels={"team": "web", "tier": "prod"}), True),
        (alert(event_sources=[("ImageUpdateAutomation", "*", None, {"team": "web"})]),
         delivery(labels={"team": "api"}), False),
        (alert(event_sources=[("ImageUpdateAutomation", "*", None, {"team": "web"})]), delivery(), False),
        (alert(event_sources=[("ImageUpdateAutomation", "apps", None, {"team": "web"})]), delivery(), True),
    ],
)
def test_alert_matching(rule: AlertRule, event, expected: bool):
    assert rule.matches(event) is expected


def test_invalid_regex_is_refused_with_the_alert_and_pattern_named():
    with pytest.raises(NotifyConfigError, match=r"Alert flux-system/a: exclusionList entry '\(unclosed'"):
        alert(exclusion_list=["(unclosed"])


def test_alert_naming_a_provider_of_another_namespace_is_refused():
    providers = [ProviderSettings("p", "team-a", "generic", "http://127.0.0.1:9/x")]
    with pytest.raises(NotifyConfigError, match="providerRef 'p' names no Provider in namespace 'flux-system'"):
        Dispatcher(providers, [alert()])


def test_unknown_provider_type_is_refused_with_the_supported_ones():
    with pytest.raises(NotifyConfigError, match="type 'pagerduty' is not supported; use one of slack"):
        ProviderSettings("p", "flux-system", "pagerduty", "http://127.0.0.1:9/x")  # type: ignore[arg-type]


def test_each_matching_alert_sends_with_its_summary(webhook_receiver):
    receiver = webhook_receiver("generic")
    providers = [
        ProviderSettings("hook", "flux-system", "generic", receiver.url("/all")),
        ProviderSettings("paused", "flux-system", "generic", receiver.url("/paused"), suspend=True),
    ]
    alerts = [
        alert(name="everything", provider="hook", summary="Fleet eu-1"),
        alert(name="errors", provider="hook", event_severity="error"),
        alert(name="muted", provider="paused"),
    ]
    dispatcher = Dispatcher(providers, alerts)

    async def scenario() -> tuple[int, int]:
        infos = dispatcher.dispatch(delivery())
        errors = dispatcher.dispatch(failure())
        assert await dispatcher.drain(5.0)
        return infos, errors

    assert asyncio.run(scenario()) == (1, 2)
    requests = receiver.wait_for(3)
    assert len(requests) == 3 and all(r.path == "/all" and r.errors == [] for r in requests)
    summaries = sorted(r.json()["metadata"].get("summary", "-") for r in requests)
    assert summaries == ["-", "Fleet eu-1", "Fleet eu-1"]
