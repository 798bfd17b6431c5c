"""Release information as each target shows it, within that target's limits.

Pull request bodies are GitHub-flavoured Markdown (GitHub refuses a body over 65,536 characters;
GitLab and Gitea accept at least as much): release notes go in as a quote, with @mentions defused so
that quoting an upstream changelog notifies nobody. Slack gets mrkdwn with its three control
characters escaped, links in `<url|label>` form, and notes cut to a section's 3,000 characters.
"""

from __future__ import annotations

import re

from imagebot.release.model import Release

PR_BODY_MAX = 65_536
ELLIPSIS = "…"
_MENTION = re.compile(r"(?<![\w/`])@(?=[A-Za-z0-9])")


def _cut(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    cut = text[: max(0, limit)]
    newline = cut.rfind("\n")
    if newline > limit // 2:  # end at a line rather than mid-word when that loses little
        cut = cut[:newline]
    return cut, True


def _md_text(text: str) -> str:
    """Inline text from a forge (a release title): no Markdown or HTML of its own."""
    return re.sub(r"([\\`*_{}\[\]<>()#+!|~])", r"\\\1", text.replace("\n", " "))


def markdown(release: Release, notes_limit: int) -> str:
    """The Markdown lines for one change's release, notes cut to `notes_limit` characters."""
    links = [f"[source]({release.Source})"]
    if release.Compare:
        links.append(f"[compare]({release.Compare})")
    if release.Notes and release.Notes.URL:
        links.append(f"[release]({release.Notes.URL})")
    if release.URL and release.Source != release.URL:
        links.append(f"[image]({release.URL})")
    head = " · ".join(links)
    notes = release.Notes
    if notes is None or not notes.Text.strip():
        return head
    opening = f"\n\n<details><summary>Release notes: {_md_text(notes.Title[:200])}</summary>\n\n"
    more = f"\n>\n> {ELLIPSIS} (cut)" + (f" [the whole release]({notes.URL})" if notes.URL else "")
    closing = "\n\n</details>"
    room = notes_limit - len(head) - len(opening) - len(more) - len(closing)
    if room < 100:
        return head
    quoted, size, cut = [], 0, notes.Truncated
    # a closing tag in the notes would end our collapsed block early and spill the rest into the body
    text = re.sub(r"</(details|summary)", r"&lt;/\1", notes.Text.replace("\r\n", "\n"), flags=re.IGNORECASE)
    for line in _MENTION.sub("@\u200b", text).strip().split("\n"):
        line = f"> {line}" if line else ">"
        if size + len(line) + 1 > room:
            line, _ = _cut(line, room - size - 1)
            if len(line) > 2:
                quoted.append(line)
            cut = True
            break
        quoted.append(line)
        size += len(line) + 1
    return head + opening + "\n".join(quoted) + (more if cut else "") + closing


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(url: str, label: str) -> str:
    safe = url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
    return f"<{safe}|{slack_escape(label)}>"


def slack_links(release: Release) -> str:
    """`source · compare · release` as Slack links."""
    links = [_slack_link(release.Source, "source")]
    if release.Compare:
        links.append(_slack_link(release.Compare, "compare"))
    if release.Notes and release.Notes.URL:
        links.append(_slack_link(release.Notes.URL, "release notes"))
    return " · ".join(links)


def slack_notes(release: Release, limit: int) -> str | None:
    """The release notes as one mrkdwn text of at most `limit` characters, or None."""
    notes = release.Notes
    if notes is None or not notes.Text.strip():
        return None
    heading = f"*{slack_escape(notes.Title[:150])}*\n"
    room = limit - len(heading) - 2
    if room < 100:
        return None
    body = slack_escape(notes.Text.replace("\r\n", "\n").strip())
    text, cut = _cut(body, room)
    # an escape sequence cut in half would show as text
    text = re.sub(r"&[a-z]{0,3}$", "", text)
    return heading + text + (f"\n{ELLIPSIS}" if cut or notes.Truncated else "")
