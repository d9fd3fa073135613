"""Purge reminders through a real SMTP server on loopback (aiosmtpd), chosen by setting only."""

import email
from email import policy

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import TOKEN_A
from tests.reminders.helpers import archive, reminders_sent, watch_and_remind

pytestmark = pytest.mark.django_db


class Inbox:
    """What an SMTP server received: (envelope recipients, the parsed message, its raw bytes)."""

    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        self.received.append((envelope.rcpt_tos, message, envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_inbox(unused_port, settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=unused_port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS, settings.EMAIL_TIMEOUT = (
        "127.0.0.1", unused_port, False, 10)
    try:
        yield inbox
    finally:
        controller.stop()


def test_reminders_reach_a_real_smtp_server_as_text_and_html_and_name_no_token(
        smtp_inbox, sandbox, team_a, owner, editor, viewer, server_a, settings):
    settings.DASHBOARD_URL = "https://streams.example.com"
    archive(sandbox, TOKEN_A, actor=editor, team=team_a, server=server_a, days_ago=38)

    watch_and_remind(server_a)
    watch_and_remind(server_a)

    assert sorted(rcpt for rcpts, _, _ in smtp_inbox.received for rcpt in rcpts) == [
        "edith@acme.example", "olivia@acme.example"]
    _, message, raw = smtp_inbox.received[0]
    assert message["Subject"] == "Acme: 1 archived stream will be deleted within 7 days"
    assert message["List-Unsubscribe"] == "<https://streams.example.com/accounts/reminders/>"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Monthly news (ID news) on Acme Production" in text and "<strong>Monthly news</strong>" in html
    last4 = server_a.token_last4
    for part in (raw.decode("utf-8", "replace"), text, html):
        assert TOKEN_A not in part and TOKEN_A.replace("-", "") not in part and f"••••{last4}" not in part
    assert len(reminders_sent()) == 1
