"""The dashboard's services: the only code that writes teams, members, invitations and servers.

Each module groups one area (`teams`, `members`, `invitations`, `servers`, `accounts`). Services take
keyword-only arguments with `actor` and `team` first, never see a request, write their audit event
through `dashboard.audit.record`, and report a refusal as a `ServiceError` in plain words.
"""


class ServiceError(Exception):
    """A refusal a person can act on. `field` names the form field it concerns, when there is one."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
