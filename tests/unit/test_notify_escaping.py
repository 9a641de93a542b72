"""Issue #23: alert notifications carry broker text (queue, group, consumer names); each target gets it
escaped for its own format, so a name never becomes a link, a mention or markup. Real apprise pipeline; the
Slack case captures the HTTP request apprise would make (no network in unit tests)."""
from __future__ import annotations

import json

import apprise
import pytest
from apprise.decorators import notify

from alerts.notify import send_apprise

EVIL = "orders [click](http://evil.example) <a href='http://evil'>x</a> <http://evil|pay> *b* <!channel>"
GOT: dict[str, tuple[str, str]] = {}


@notify(on="edtestmd", body_format=apprise.NotifyFormat.MARKDOWN)
def _markdown_target(body, title, notify_type, *args, **kwargs):
    GOT["md"] = (title, body)


@notify(on="edtesthtml", body_format=apprise.NotifyFormat.HTML)
def _html_target(body, title, notify_type, *args, **kwargs):
    GOT["html"] = (title, body)


@pytest.mark.parametrize("url, key", [("edtestmd://x", "md"), ("edtesthtml://x", "html")])
def test_markdown_and_html_targets_get_escaped_title_and_body(url, key):
    assert send_apprise(url, f"[FIRING] lag {EVIL}", f"group {EVIL}", "warning") == (True, None)
    title, body = GOT[key]
    for text in (title, body):
        assert "<a href=" not in text and "<http://evil|pay>" not in text
    if key == "md":  # no Markdown link survives
        assert "[click](http" not in title + body
        assert "\\[click\\]" in body and "\\[click\\]" in title
    else:
        assert "&lt;a" in body and "&lt;a" in title


def test_slack_gets_its_link_syntax_escaped(monkeypatch):
    import apprise.plugins.slack as slack

    sent = []

    class Ok:
        status_code = 200
        content = b"ok"
        text = "ok"

    def capture(*args, **kwargs):
        sent.append(kwargs.get("data"))
        return Ok()

    monkeypatch.setattr(slack.requests, "request", capture)
    monkeypatch.setattr(slack.requests, "post", capture, raising=False)
    ok, err = send_apprise("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#alerts", "[FIRING] x", EVIL, "info")
    assert ok, err
    payload = json.dumps(json.loads(sent[0]))
    assert "<http://evil|pay>" not in payload and "<!channel>" not in payload
    assert "&lt;http://evil|pay&gt;" in payload and "&lt;!channel&gt;" in payload
