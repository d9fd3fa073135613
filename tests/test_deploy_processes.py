"""The image's other two processes, run here as the image runs them (production settings, no Docker engine):
the periodic trigger enqueues a round, the worker runs its tasks, and `watch_status` then reports the round."""

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = (REPO / "Dockerfile").read_text()


def test_the_dockerfile_says_how_to_run_the_worker_and_the_periodic_trigger():
    assert re.search(r"^#\s+worker\s+docker run IMAGE python manage\.py db_worker", DOCKERFILE, re.MULTILINE)
    assert re.search(r"^#\s+periodic trigger\s+docker run IMAGE python manage\.py watch_servers", DOCKERFILE,
                     re.MULTILINE)


def test_the_trigger_the_worker_and_the_status_run_with_production_settings(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "a-production-like-secret-key-for-this-test-only-0123456789",
        "TOKEN_ENCRYPTION_KEYS": f"k1:{base64.urlsafe_b64encode(b'1' * 32).decode()}",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    env.pop("TASKS_BACKEND", None)

    def manage(*args):
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    manage("migrate", "--noinput")
    assert "Enqueued 0 server(s) to watch" in manage("watch_servers")
    manage("db_worker", "--batch", "--no-startup-delay")
    assert "0 server(s) watched, 0 skipped" in manage("watch_status")
