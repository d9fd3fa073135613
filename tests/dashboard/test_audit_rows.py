"""The values the audit log page shows for each entry, worked out in Python (`dashboard.views.audit_rows`):
the page reads exactly as it did when the template worked them out per entry with `local_time_tag`, `browser`,
`local_time` and `capfirst`. The template as it was is kept here and rendered beside the page for comparison."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.template import engines
from django.urls import reverse
from django.utils import timezone

from dashboard import audit
from dashboard.models import Role

pytestmark = pytest.mark.django_db

# The entries' list as templates/dashboard/audit_log.html wrote it before the rows were worked out in Python.
PER_ENTRY_TEMPLATE = (Path(__file__).parent / "templates_before" / "audit_entries.html").read_text()


AGENTS = ["", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
          "curl/8.4.0", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
          "Gecko) Version/17.0 Mobile/15E148 Safari/604.1", 'an <odd> & "quoted" agent']
CHANGES = [
    {},
    {"name": ["old <b>name</b>", "new & name"]},
    {"state": ["active", "archived"]},
    {"purge_date": ["2026-03-29T00:30:00+00:00", None]},  # the night Berlin moves its clocks
    {"purge_date": [None, "2026-10-25T01:30:00Z"]},
    {"purge_date": ["2026-04-01T10:00:00", "not-a-date"]},  # a moment without a zone is UTC
    {"purge_date": ["2026-13-45T99:99", "2026-06-01T12:00:00.123456+05:30"]},
    {"description": ["", None], "stream_limit": [10, 20], "suppressed": [["a@x.example", "b@x.example"], []]},
    {"odd_field": [{"a": 1, "b": "<x>"}, 3.5], "purge_reminders": [True, False], "status": [0, 1234567]},
]


def entries_list(html: str) -> str:
    return re.search(r'<ol class="audit-entries">.*?</ol>', html, re.S).group(0)


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/Sao_Paulo", ""])
def test_each_entry_reads_as_the_per_entry_tags_wrote_it(zone, client_as, admin, owner, editor, team_a):
    admin.time_zone = zone
    admin.save()
    start = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)
    people = [owner, editor, None]
    entries = []
    for index in range(40):
        actor = people[index % 3]
        with audit.context(ip=[None, "198.51.100.7", "2001:db8::1"][index % 3], user_agent=AGENTS[index % 5],
                           request_id=["", f"req-{index}"][index % 2],
                           forwarded_request_id=["", "", f"proxy-<{index}>"][index % 3]):
            entries.append(audit.record_many([{
                "action": ["stream.edit", "server.rename", "member.role_change", "access.denied"][index % 4],
                "actor": actor, "team": team_a, "role": [Role.OWNER, None, Role.EDITOR, Role.VIEWER][index % 4],
                "actor_label": "" if actor else ["", "a-job"][index % 2],
                "target_type": ["stream", "server", "member", "page", ""][index % 5],
                "target_id": ["", "abc/billing-news", str(owner.pk), "/t/acme/x/"][index % 4],
                "target_label": ["", "billing-news on <Acme>", "someone@x.example"][index % 3],
                "changes": CHANGES[index % len(CHANGES)],
                "outcome": ["success", "success", "refused", "failed", "denied"][index % 5],
                "detail": ["", 'Postmark said <no> & "why".'][index % 2],
                "occurred_at": start + timedelta(hours=index * 5, seconds=index),
            }]))
    browser = client_as(admin)
    url = reverse("audit_log", kwargs={"team_slug": team_a.slug})
    for query in ["", "?outcome=refused", f"?person={owner.pk}"]:
        response = browser.get(url + query)
        page = response.context["page"]
        assert len(page.entries) >= 5
        with timezone.override(zone or "UTC"):
            before = engines["django"].from_string(PER_ENTRY_TEMPLATE).render(
                {"page": page}, request=response.wsgi_request)
        assert entries_list(response.content.decode()) == entries_list(before)
