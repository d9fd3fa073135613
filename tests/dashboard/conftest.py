"""Fixtures of the dashboard's tests that more than one of their modules uses."""

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sqlite_manage(tmp_path) -> tuple[Path, Callable[..., subprocess.CompletedProcess]]:
    """A new SQLite database file, and `manage.py` run on it in a process of its own (to migrate it part-way)."""
    database = tmp_path / "db.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "DJANGO_SETTINGS_MODULE": "dashboard.settings"}

    def manage(*args) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=120)

    return database, manage
