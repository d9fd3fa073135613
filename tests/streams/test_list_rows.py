"""The stream list's rows, written in Python (`streams.views.rows.list_table_rows`), are the markup the template's
per-row loop wrote (kept in templates_before/list_rows.html): for active and archived streams, with and without a
description or an update, past and coming purges, for readers who can restore and who can't, with text that needs
escaping."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.utils import timezone

from dashboard.postmark.client import Stream, StreamType, UnsubscribeHandling
from streams.views.rows import list_table_rows, stream_rows

PER_ROW_TEMPLATE = (Path(__file__).parent / "templates_before" / "list_rows.html").read_text()
NOW = datetime(2026, 11, 23, 16, 53, tzinfo=UTC)
SERVER = "6f1d3a52-5d0e-4a4b-9d54-1b6a7c1e2f00"
TOKEN = "masked-csrf-token-for-the-test"
TRICKY = '<script>alert("x")</script> & \'quotes\''


def stream(stream_id, *, name="Billing", description=None, archived_days_ago=None, updated_at=None,
           stream_type=StreamType.TRANSACTIONAL, handling=UnsubscribeHandling.NONE) -> Stream:
    archived_at = NOW - timedelta(days=archived_days_ago) if archived_days_ago is not None else None
    return Stream(id=stream_id, server_id=1, name=name, description=description, stream_type=stream_type,
                  unsubscribe_handling=handling, created_at=datetime(2026, 1, 31, 23, 30, tzinfo=UTC),
                  updated_at=updated_at, archived_at=archived_at,
                  expected_purge_date=archived_at + timedelta(days=45) if archived_at else None)


STREAMS = [
    stream("outbound", name="Default Transactional Stream", description="Default outbound"),
    stream("broadcast", name="News", description="x" * 200, stream_type=StreamType.BROADCASTS,
           handling=UnsubscribeHandling.POSTMARK, updated_at=datetime(2026, 7, 1, 10, 0, tzinfo=UTC)),
    stream("custom", stream_type=StreamType.BROADCASTS, handling=UnsubscribeHandling.CUSTOM),
    stream("inbound", name="Inbound", stream_type=StreamType.INBOUND),
    stream("tricky", name=TRICKY, description=TRICKY, archived_days_ago=3),
    stream("soon", name="Soon gone", archived_days_ago=44, updated_at=datetime(2026, 10, 10, tzinfo=UTC)),
    stream("past", name="Past its date", archived_days_ago=60),
]


def _words_and_tags(html: str) -> str:
    """HTML as a browser reads it: every run of white space is one space."""
    return re.sub(r"\s+", " ", str(html)).strip()


@pytest.mark.parametrize("can_edit", [True, False], ids=["editor", "viewer"])
@pytest.mark.parametrize("zone", ["UTC", "Pacific/Auckland"])
def test_the_rows_are_the_markup_the_templates_loop_wrote(can_edit, zone):
    request = RequestFactory().get(f"/t/acme/servers/{SERVER}/streams/", {"archived": "1", "q": TRICKY})
    with timezone.override(zone):
        rows = stream_rows(STREAMS, team_slug="acme", server_pk=SERVER, now=NOW)
        written = list_table_rows(rows, can_edit=can_edit, csrf_token=TOKEN, next_path=request.get_full_path())
        from_template = Template(PER_ROW_TEMPLATE).render(
            Context({"rows": rows, "can_edit": can_edit, "request": request, "csrf_token": TOKEN}))

    assert _words_and_tags(written) == _words_and_tags(from_template)
    assert written.count("<tr ") == len(STREAMS)
    assert ("<script>" in written) is False
    assert written.count('name="csrfmiddlewaretoken"') == (3 if can_edit else 0)


def test_no_rows_write_nothing():
    assert list_table_rows([], can_edit=True, csrf_token=TOKEN, next_path="/") == ""
