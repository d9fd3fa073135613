"""Links that carry a secret in their path, written into log lines without it.

An invitation link (`/invitations/<token>/`) lets whoever holds it join a team, and a password reset link
(`/accounts/password/reset/<uid>/<token>/`) sets a password. Django logs a path it could not serve, runserver
logs every request line, and gunicorn's access log every request line and Referer: each of those would keep the
secret for anyone who reads the logs. `without_secrets` swaps the secret for "[hidden]"; `SecretPathsFilter`
applies it to the app's log lines and `dashboard.gunicorn_logger` to gunicorn's access log.
"""

import logging
import re

HIDDEN = "[hidden]"
_END = r"/?#\s\"'<>"
# At the root of a path: the start, after white space or a quote, or after a URL's host. Not a team's own
# `/t/<team>/invitations/<id>/revoke/`.
_INVITATION = re.compile(rf"((?:^|[\s\"'(]|//[^/\s\"']+)/invitations/)[^{_END}]+")
# Django's reset view swaps the token for "set-password" in the address after the first visit: that one stays.
_RESET = re.compile(rf"(/accounts/password/reset/[^{_END}]+/)(?!set-password(?:[{_END}]|$))[^{_END}]+")


def without_secrets(text: str) -> str:
    if "/invitations/" not in text and "/password/reset/" not in text:
        return text
    return _RESET.sub(rf"\1{HIDDEN}", _INVITATION.sub(rf"\1{HIDDEN}", text))


class SecretPathsFilter(logging.Filter):
    """Rewrites a record's message without the secrets of invitation and reset links (on a handler, so it
    covers every logger that writes through it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        hidden = without_secrets(message)
        if hidden != message:
            record.msg, record.args = hidden, None
        return True
