"""`manage.py demo_seed`: the demo's sign-in, made once. Only for `make demo` and development."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dashboard.models import User

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "streams-demo"


class Command(BaseCommand):
    help = "Create the demo's user (development only) and print how to sign in."

    def handle(self, *args, **options):
        # A known password is fine on a laptop and a hole anywhere else.
        if not (settings.DEMO or settings.DEBUG):
            raise CommandError("demo_seed only runs with DEMO or DEBUG on; it makes an account with a known password.")
        user, created = User.objects.get_or_create(email=DEMO_EMAIL, defaults={"name": "Demo User"})
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        self.stdout.write(
            f"Open http://127.0.0.1:8000 and sign in as {DEMO_EMAIL} with the password {DEMO_PASSWORD}"
            + ("" if created else " (unless you changed it)")
            + "."
        )
