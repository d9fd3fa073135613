"""System checks of the dashboard's own: every key id the database uses must be in the key ring.

Tagged `database`, so `migrate` and `check --database default` (a deployment's steps) run it.
"""

from django.core.checks import Error, Tags, register
from django.db import DatabaseError


@register(Tags.database)
def token_keys_present(app_configs=None, databases=None, **kwargs):
    if not databases:
        return []
    from dashboard import token_crypto
    from dashboard.services.servers import token_keys_in_use

    try:
        in_use = token_keys_in_use()
    except DatabaseError:  # before the first migration there is nothing to decrypt
        return []
    missing = sorted(set(in_use) - set(token_crypto.key_ring().ids))
    return [
        Error(
            f"{in_use[key_id]} server token(s) are encrypted with key '{key_id}', which is not in "
            "TOKEN_ENCRYPTION_KEYS; those servers could not reach Postmark.",
            hint=f"Add '{key_id}:<its key>' back to TOKEN_ENCRYPTION_KEYS (after the first key), then run "
            "`manage.py rotate_token_keys` before retiring it.",
            id="dashboard.E001",
        )
        for key_id in missing
    ]
