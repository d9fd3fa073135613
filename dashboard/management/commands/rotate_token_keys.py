"""`manage.py rotate_token_keys`: re-encrypt every stored server token under the key ring's first key.

Run it after putting a new key first in TOKEN_ENCRYPTION_KEYS; then `--retire OLD_ID` says whether the
old key can be taken out of the ring. Safe to run again at any time. It never prints a token.
"""

from django.core.management.base import BaseCommand, CommandError

from dashboard import audit, token_crypto
from dashboard.services.servers import token_keys_in_use, token_keys_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored Postmark server token under the first key of TOKEN_ENCRYPTION_KEYS. "
        "With --retire KEY_ID, check instead that no token still needs that key."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only count what would be re-encrypted.")
        parser.add_argument("--batch-size", type=int, default=100, metavar="N",
                            help="How many servers to load at a time (default 100).")
        parser.add_argument("--retire", metavar="KEY_ID",
                            help="Check that no token uses KEY_ID any more, so it can leave the key ring.")

    def handle(self, *args, dry_run: bool, batch_size: int, retire: str | None, **options):
        if retire is not None:
            self._retire(retire.strip())
            return
        if batch_size < 1:
            raise CommandError("--batch-size must be 1 or more.")
        primary = token_crypto.key_ring().primary_id
        with audit.context(request_id=audit.new_request_id()) as context:
            report = token_keys_rotate(actor=None, dry_run=dry_run, batch_size=batch_size)
        done = len(report.reencrypted)
        if dry_run:
            self.stdout.write(f"Dry run: {done} server token(s) would be re-encrypted under key '{primary}'. "
                              "Nothing was changed.")
        else:
            self.stdout.write(f"Re-encrypted {done} server token(s) under key '{primary}'.")
            if done:
                self.stdout.write(f"Each one is in the audit log (request id {context.request_id}).")
        self.stdout.write(f"{report.current} server token(s) were already under key '{primary}'.")
        if report.unreadable:
            self.stderr.write(
                f"{len(report.unreadable)} server token(s) could not be read, so they were left as they are:")
            for label in report.unreadable:
                self.stderr.write(f"  - {label}")
            self.stderr.write(
                "Their key is missing from TOKEN_ENCRYPTION_KEYS, or the stored token is damaged. Put the missing "
                "key back into TOKEN_ENCRYPTION_KEYS (after the first key) and run this again, or ask an admin of "
                "each team to re-enter the token on the server's page (Replace token…).")

    def _retire(self, key_id: str) -> None:
        ring = token_crypto.key_ring()
        if key_id == ring.primary_id:
            raise CommandError(
                f"'{key_id}' is the first key of TOKEN_ENCRYPTION_KEYS: it encrypts every new token, so it cannot "
                "be retired. Put a new key first (`manage.py generate_token_key`), run `manage.py "
                f"rotate_token_keys`, then retire '{key_id}'.")
        still_using = token_keys_in_use().get(key_id, 0)
        if still_using:
            missing = "" if key_id in ring.ids else (
                f" The key is not in TOKEN_ENCRYPTION_KEYS, so those tokens cannot be read: put '{key_id}' back "
                "first.")
            raise CommandError(
                f"{still_using} server token(s) are still encrypted with key '{key_id}', so it cannot be retired "
                f"yet.{missing} Run `manage.py rotate_token_keys` first, then try again.")
        if key_id not in ring.ids:
            self.stdout.write(f"No server token uses key '{key_id}', and it is not in TOKEN_ENCRYPTION_KEYS. "
                              "Nothing to do.")
            return
        self.stdout.write(f"No server token uses key '{key_id}' any more. You can now remove '{key_id}:…' from "
                          "TOKEN_ENCRYPTION_KEYS and restart the dashboard.")
