"""Two workers racing on the embedded default: two processes on one SQLite file, started on the same signal,
send each person one e-mail and write one audit entry (each reminder's claim is one UPDATE)."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SEED = """
from datetime import timedelta
from django.utils import timezone
from dashboard.models import Membership, Role, Server, Team, User
from dashboard.postmark.client import Stream, StreamType, UnsubscribeHandling
from reminders.services import reminders_note
from streams.last_known import stream_to_json
from streams.models import StreamCopy
team = Team.objects.create(name="Acme", slug="acme")
for email, role in [("olivia@acme.example", Role.OWNER), ("edith@acme.example", Role.EDITOR),
                    ("victor@acme.example", Role.VIEWER)]:
    Membership.objects.create(team=team, user=User.objects.create_user(email=email), role=role)
server = Server.objects.create(team=team, name="Acme Production", token_ciphertext="-", token_key_id="-",
                               token_fingerprint="-", token_last4="a1a1")
now = timezone.now()
archived = now - timedelta(days=38)
news = Stream(id="news", server_id=1, name="Monthly news", description=None, stream_type=StreamType.BROADCASTS,
              unsubscribe_handling=UnsubscribeHandling.POSTMARK, created_at=archived, updated_at=None,
              archived_at=archived, expected_purge_date=archived + timedelta(days=45))
StreamCopy.objects.create(server=server, streams=[stream_to_json(news)], fetched_at=now)
reminders_note()
"""
# Each worker loads Django, says it is ready, and waits for the test's word on its stdin before it runs.
WORKER = """
import sys
from django.core.management import call_command
print("ready", flush=True)
sys.stdin.readline()
call_command("send_purge_reminders")
"""
REPORT = """
import json
from dashboard.models import AuditEvent
from reminders.models import PurgeReminder
print(json.dumps({"audit": AuditEvent.objects.filter(action="stream.reminder").count(),
                  "status": list(PurgeReminder.objects.values_list("status", flat=True))}))
"""


def _manage(env, *args, **options):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=180, **options)


def test_two_worker_processes_racing_on_one_sqlite_file_send_one_e_mail_per_person(tmp_path):
    mailbox = tmp_path / "mail"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'race.sqlite3'}", "DEBUG": "0",
           "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend", "EMAIL_FILE_PATH": str(mailbox)}
    assert _manage(env, "migrate", "--noinput").returncode == 0
    seeded = _manage(env, "shell", "-c", SEED)
    assert seeded.returncode == 0, seeded.stderr

    command = [sys.executable, "manage.py", "shell", "--verbosity", "0", "-c", WORKER]
    workers = [subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready"
    for worker in workers:
        worker.stdin.write("go\n")
        worker.stdin.flush()
    outputs = [worker.communicate(timeout=120) for worker in workers]

    assert all(worker.returncode == 0 for worker in workers), outputs
    sent = sorted(line for path in mailbox.iterdir() for line in path.read_text().splitlines()
                  if line.startswith("To: "))
    assert sent == ["To: edith@acme.example", "To: olivia@acme.example"]
    assert sorted(out.strip().splitlines()[-1] for out, _ in outputs) == [
        "Sent 0 purge reminder e-mail(s).", "Sent 2 purge reminder e-mail(s)."]
    report = _manage(env, "shell", "--verbosity", "0", "-c", REPORT)
    assert json.loads(report.stdout) == {"audit": 1, "status": ["sent"]}
