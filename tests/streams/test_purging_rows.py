"""The rows of the overview's *Purging soon* table, written in Python (`streams.views.rows.purging_table_rows`), are
the markup the template's per-row loop wrote (kept in templates_before/purging_rows.html): streams of several
servers, past and coming purges, for readers who can restore and who can't, with names that need escaping."""

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.utils import timezone

from dashboard.models import Server
from dashboard.postmark.client import Stream, StreamType, UnsubscribeHandling
from streams.views.rows import purging_table_rows, server_stream_rows

PER_ROW_TEMPLATE = (Path(__file__).parent / "templates_before" / "purging_rows.html").read_text()
NOW = datetime(2026, 11, 23, 16, 53, tzinfo=UTC)
TOKEN = "masked-csrf-token-for-the-test"
TRICKY = '<b>&"\' x'


def archived(stream_id, *, name, days_ago) -> Stream:
    archived_at = NOW - timedelta(days=days_ago)
    return Stream(id=stream_id, server_id=1, name=name, description=None, stream_type=StreamType.BROADCASTS,
                  unsubscribe_handling=UnsubscribeHandling.POSTMARK, created_at=datetime(2026, 1, 31, tzinfo=UTC),
                  updated_at=None, archived_at=archived_at, expected_purge_date=archived_at + timedelta(days=45))


PRODUCTION = Server(id=uuid.uuid4(), name="Acme Production")
STAGING = Server(id=uuid.uuid4(), name=f"Staging {TRICKY}")
PAIRS = [
    (PRODUCTION, archived("old-receipts", name="Old receipts", days_ago=43.5)),
    (STAGING, archived("tricky", name=TRICKY, days_ago=35)),
    (PRODUCTION, archived("spring-sale", name="Spring sale", days_ago=10)),
    (STAGING, archived("past", name="Past its date", days_ago=60)),
]


def _words_and_tags(html: str) -> str:
    """HTML as a browser reads it: every run of white space is one space."""
    return re.sub(r"\s+", " ", str(html)).strip()


@pytest.mark.parametrize("can_edit", [True, False], ids=["editor", "viewer"])
@pytest.mark.parametrize("zone", ["UTC", "Pacific/Auckland"])
def test_the_rows_are_the_markup_the_templates_loop_wrote(can_edit, zone):
    request = RequestFactory().get("/t/acme/", {"refresh": "1", "q": TRICKY})
    with timezone.override(zone):
        rows = server_stream_rows(((server.pk, stream) for server, stream in PAIRS), team_slug="acme", now=NOW,
                                  details=False)
        purging = [(server, row) for (server, _stream), row in zip(PAIRS, rows, strict=True)]
        written = purging_table_rows(purging, can_edit=can_edit, csrf_token=TOKEN, next_path=request.get_full_path())
        from_template = Template(PER_ROW_TEMPLATE).render(
            Context({"purging": purging, "can_edit": can_edit, "request": request, "csrf_token": TOKEN}))

    assert _words_and_tags(written) == _words_and_tags(from_template)
    assert written.count("<tr ") == len(PAIRS)
    assert "<b>" not in written
    assert written.count('name="csrfmiddlewaretoken"') == (len(PAIRS) if can_edit else 0)


def test_no_rows_write_nothing():
    assert purging_table_rows([], can_edit=True, csrf_token=TOKEN, next_path="/") == ""
