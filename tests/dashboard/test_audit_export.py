"""Exporting the audit log: exactly the filtered view, every page, as CSV and JSON Lines, streamed and audited."""

import csv
import io
import json
import re
from datetime import UTC, datetime

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from dashboard import audit
from dashboard.models import AuditEvent, Role
from dashboard.services.servers import server_rename
from streams.services import stream_archive, stream_create

pytestmark = pytest.mark.django_db


def url(name: str, **query) -> str:
    base = reverse(name, kwargs={"team_slug": "acme"})
    return base + ("?" + "&".join(f"{key}={value}" for key, value in query.items()) if query else "")


def body(response) -> str:
    return b"".join(response.streaming_content).decode("utf-8")


def csv_rows(response) -> list[dict]:
    text = body(response)
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


def jsonl_rows(response) -> list[dict]:
    return [json.loads(line) for line in body(response).splitlines()]


def shown(browser, **query) -> list[int]:
    """The ids of every entry the page shows for these filters, following "Older entries" to the end."""
    ids, next_url = [], url("audit_log", **query)
    while next_url:
        html = browser.get(next_url).content.decode()
        ids += [int(pk) for pk in re.findall(r'data-entry="(\d+)"', html)]
        found = re.search(r'<a [^>]*href="([^"]*)"[^>]*rel="next"', html)
        next_url = found.group(1).replace("&amp;", "&") if found else None
    return ids


def rename(owner, team, number: int, **context):
    with audit.context(**({"ip": "203.0.113.7", "user_agent": "pytest"} | context)):
        return audit.record(action="server.rename", actor=owner, team=team, role=Role.OWNER, target_type="server",
                            target_id=f"s-{number}", target_label=f"Server {number}",
                            changes={"name": [f"Old {number}", f"Server {number}"]})


@pytest.fixture
def history(owner, editor, team_a, server_a):
    """Stream and server entries, one refused, and 70 renames so the view spans two pages."""
    stream_create(actor=editor, team=team_a, server=server_a, stream_id="billing-news", name="Billing News",
                  stream_type="Broadcasts")
    stream_archive(actor=editor, team=team_a, server=server_a, stream_id="billing-news", confirmation="billing-news")
    with pytest.raises(Exception, match="default transactional stream"):
        stream_archive(actor=editor, team=team_a, server=server_a, stream_id="outbound", confirmation="outbound")
    for number in range(70):
        rename(owner, team_a, number)


@pytest.mark.parametrize(("query", "count"), [({}, 76), ({"group": "servers"}, 71),
                                              ({"group": "streams", "outcome": "refused"}, 1)])
def test_the_csv_holds_exactly_the_filtered_view_across_every_page(client_as, admin, history, query, count):
    browser = client_as(admin)
    on_screen = shown(browser, **query)
    rows = csv_rows(browser.get(url("audit_export_csv", **query)))
    exported = [int(row["entry id"]) for row in rows]
    if not query:  # the export's own entry, written before the file, is the newest of all
        assert rows[0]["action"] == "audit.export"
        exported = exported[1:]
    assert exported == on_screen
    assert len(exported) == count  # more than a page of 50, save the one refused attempt


def test_the_json_lines_hold_exactly_the_filtered_view_across_every_page(client_as, admin, history):
    browser = client_as(admin)
    on_screen = shown(browser, group="servers")
    rows = jsonl_rows(browser.get(url("audit_export_jsonl", group="servers")))
    assert [row["id"] for row in rows] == on_screen
    assert len(rows) == 71  # 70 renames and connecting the server: more than one page of 50


def test_a_csv_row_has_every_column_in_plain_words(client_as, admin, editor, history):
    rows = csv_rows(client_as(admin).get(url("audit_export_csv", group="streams", outcome="refused")))
    assert list(rows[0]) == ["entry id", "time (UTC)", "team", "person", "role", "action", "sentence", "target type",
                             "target id", "target", "outcome", "detail", "changes", "ip", "user agent", "request id",
                             "proxy's request id"]
    row = rows[0]
    assert row["sentence"] == ("Edith Editor (editor) tried to archive stream outbound on Acme Production — refused: "
                               "A default stream that Postmark never archives")
    assert (row["team"], row["person"], row["role"], row["action"]) == ("Acme", editor.email, "editor",
                                                                        "stream.archive")
    assert (row["target type"], row["target"], row["outcome"]) == ("stream", "outbound on Acme Production", "refused")
    assert row["target id"].endswith("/outbound")
    assert json.loads(row["changes"]) == {"state": ["active", "archived"]}
    assert (row["ip"], row["user agent"], row["request id"]) == ("203.0.113.7", "pytest", "test-request")
    assert row["proxy's request id"] == ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", row["time (UTC)"])


def test_times_are_exported_in_utc_whatever_the_readers_zone(client_as, admin, owner, team_a, monkeypatch):
    admin.time_zone = "Asia/Kathmandu"
    admin.save()
    with monkeypatch.context() as patch:
        patch.setattr(timezone, "now", lambda: datetime(2025, 11, 23, 16, 53, 1, 250000, tzinfo=UTC))
        rename(owner, team_a, 1)
    rows = jsonl_rows(client_as(admin).get(url("audit_export_jsonl", group="servers", **{"from": "2025-11-23"})))
    assert [row["time"] for row in rows] == ["2025-11-23T16:53:01.250000Z"]


def test_a_json_line_keeps_changes_as_data(client_as, admin, owner, team_a, server_a):
    server_rename(actor=owner, team=team_a, server=server_a, name="Acme Main")
    row = jsonl_rows(client_as(admin).get(url("audit_export_jsonl", group="servers")))[0]
    assert row["changes"] == {"name": ["Acme Production", "Acme Main"]}
    assert row["sentence"] == "Olivia Owner (owner) renamed server Acme Main (formerly Acme Production)"
    assert (row["target_type"], row["target_id"], row["outcome"]) == ("server", str(server_a.pk), "success")


def test_cells_a_spreadsheet_would_run_as_formulas_are_kept_as_text(client_as, admin, owner, team_a):
    rename(owner, team_a, 1, user_agent="=HYPERLINK(\"http://evil.example\")")
    rename(owner, team_a, 2, user_agent="@SUM(1+1)")
    rename(owner, team_a, 3, user_agent="-2+3")
    rows = csv_rows(client_as(admin).get(url("audit_export_csv", group="servers")))
    assert [row["user agent"] for row in rows[:3]] == ["'-2+3", "'@SUM(1+1)", "'=HYPERLINK(\"http://evil.example\")"]


def test_the_json_lines_keep_values_exactly_as_recorded(client_as, admin, owner, team_a):
    rename(owner, team_a, 1, user_agent="=cmd")
    row = jsonl_rows(client_as(admin).get(url("audit_export_jsonl", group="servers")))[0]
    assert row["user_agent"] == "=cmd"


# --- Streaming ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "suffix", "content_type"), [
    ("audit_export_csv", "csv", "text/csv; charset=utf-8"),
    ("audit_export_jsonl", "jsonl", "application/jsonl; charset=utf-8"),
])
def test_an_export_is_streamed_as_a_dated_download(client_as, admin, history, name, suffix, content_type):
    response = client_as(admin).get(url(name))
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse) and response.streaming
    assert response["Content-Type"] == content_type
    today = timezone.localdate()
    assert response["Content-Disposition"] == f'attachment; filename="acme-audit-{today:%Y-%m-%d}.{suffix}"'
    assert response["Cache-Control"] == "no-store, private"


def test_the_page_offers_both_downloads_with_the_current_filters(client_as, admin, history):
    html = client_as(admin).get(url("audit_log", group="streams", outcome="refused")).content.decode()
    assert 'href="/t/acme/audit/export.csv?group=streams&amp;outcome=refused"' in html
    assert 'href="/t/acme/audit/export.jsonl?group=streams&amp;outcome=refused"' in html
    assert ">Download CSV</a>" in html and ">Download JSON Lines</a>" in html


def test_an_export_reads_the_log_in_chunks_with_a_bounded_number_of_queries(client_as, admin, owner, team_a,
                                                                           django_assert_max_num_queries):
    for number in range(120):
        rename(owner, team_a, number)
    browser = client_as(admin)
    with django_assert_max_num_queries(30):
        rows = jsonl_rows(browser.get(url("audit_export_jsonl")))
    assert len(rows) >= 120


# --- Exporting is on record ---------------------------------------------------------------------


def test_exporting_is_recorded_before_the_first_row_is_sent_with_the_filters_in_words(client_as, admin, history,
                                                                                     server_a):
    response = client_as(admin).get(url("audit_export_csv", group="streams", outcome="refused", server=server_a.pk,
                                        stream="outbound", **{"from": "2025-01-01", "to": "2025-12-31"}))
    event = AuditEvent.objects.filter(action="audit.export").get()  # before reading the body
    assert (event.actor_label, event.actor_role, event.outcome, event.team_label) == (
        admin.email, "admin", "success", "Acme")
    assert event.detail == ("As CSV. Actions: streams; server Acme Production; stream ID outbound; outcome: refused; "
                            "from 1 January 2025 to 31 December 2025 (UTC time).")
    assert str(server_a.pk) not in event.detail
    assert body(response)


def test_an_unfiltered_json_export_is_recorded_as_everything(client_as, admin, history):
    client_as(admin).get(url("audit_export_jsonl"))
    event = AuditEvent.objects.get(action="audit.export")
    assert event.detail == "As JSON Lines. All entries."
    said = client_as(admin).get(url("audit_log", group="other")).content.decode()
    assert "Adam Admin</a> (admin) exported the audit log" in said


def test_a_typed_stream_id_shaped_like_a_token_is_exported_but_never_recorded_whole(client_as, admin, history):
    shaped = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
    response = client_as(admin).get(url("audit_export_jsonl", stream=shaped))
    assert response.status_code == 200
    assert shaped not in AuditEvent.objects.get(action="audit.export").detail


@pytest.mark.parametrize("name", ["audit_export_csv", "audit_export_jsonl"])
@pytest.mark.parametrize(("persona", "status"), [("viewer", 403), ("editor", 403), ("outsider", 404)])
def test_only_admins_and_owners_can_export(client_as, cast, name, persona, status):
    response = client_as(cast[persona]).get(url(name))
    assert response.status_code == status
    assert not AuditEvent.objects.filter(action="audit.export").exists()
