"""`manage.py generate_token_key`: a new entry for the TOKEN_ENCRYPTION_KEYS key ring, printed once.

It prints the key and nothing else to stdout (so it can be piped into a secret store); it stores nothing.
It needs no secret to start (see SECRETLESS_COMMANDS in settings), so it can make the very first key.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from dashboard import token_crypto


class Command(BaseCommand):
    help = "Print a new key ring entry '<id>:<key>' for TOKEN_ENCRYPTION_KEYS."
    requires_system_checks: list[str] = []  # it reads no database and may run before there is one

    def add_arguments(self, parser):
        parser.add_argument("--id", dest="key_id", metavar="KEY_ID",
                            help="The key's id: letters, digits, '-' or '_' (default: 'k' and today's date).")

    def handle(self, *args, key_id: str | None, **options):
        key_id = (key_id or f"k{timezone.localdate():%Y%m%d}").strip()
        if not token_crypto.KEY_ID_PATTERN.match(key_id):
            raise CommandError("A key id is 1 to 32 letters, digits, '-' or '_'.")
        if settings.TOKEN_ENCRYPTION_KEYS and key_id in token_crypto.key_ring().ids:
            raise CommandError(f"TOKEN_ENCRYPTION_KEYS already has a key '{key_id}'; choose another id with --id.")
        self.stdout.write(f"{key_id}:{token_crypto.generate_key()}")
        self.stderr.write(
            f"Put it first in TOKEN_ENCRYPTION_KEYS ('{key_id}:…,<the keys you have now>'), restart, then run "
            "`manage.py rotate_token_keys`.", style_func=str)
