"""Small HTML fragments repeated in every row of a list, as functions rather than Jinja macros.

A macro call costs Jinja tens of microseconds; a page of 500 rows calls a handful per row. These
build the same markup with `Markup.format`, which escapes every argument, so they are as safe
as the templates' autoescaping.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup


def when(at: str | None, empty: str = "never") -> Markup:
    """An ISO 8601 time as a <time> element (the page's script turns it into "3 min ago")."""
    if not at:
        return Markup('<span class="none">{0}</span>').format(empty)
    return Markup('<time datetime="{0}">{1}</time>').format(at, at.replace("T", " ").replace("Z", " UTC"))


def anchor(kind: str, key: str) -> str:
    """The id of an object's row, which banners link to: "ImagePolicy-namespace-name"."""
    return f"{kind}-{key.replace('/', '-')}"


def short(value: str | None, length: int = 12) -> str:
    """A digest or commit shortened for a table cell (the full value goes in a title attribute)."""
    if not value:
        return ""
    algorithm, sep, hexpart = value.partition(":")
    return f"{algorithm}:{hexpart[:length]}" if sep else value[:length]


def image(value: dict[str, Any] | None) -> Markup:
    if not value:
        return Markup('<span class="none">none</span>')
    html = Markup('<code class="tag">{0}</code>').format(value["tag"])
    if value.get("digest"):
        html += Markup(' <code class="digest" title="{0}">{1}</code>').format(value["digest"], short(value["digest"]))
    return html


def error(text: str | None) -> Markup:
    return Markup('<pre class="error-text">{0}</pre>').format(text) if text else Markup("")


def action(verb: str, label: str, target: str, csrf: str, logged_in: bool, enabled: bool) -> Markup:
    """A button that POSTs to `target` with the CSRF token, or a disabled one saying why not."""
    if enabled and logged_in:
        return Markup('<form method="post" action="{0}" class="act"><input type="hidden" name="csrf" value="{1}">'
                      '<button>{2}</button></form>').format(target, csrf, label)
    why = f"log in to {verb}" if enabled else "actions are off: no --ui-token-file"
    return Markup('<button disabled title="{0}">{1}</button>').format(why, label)
