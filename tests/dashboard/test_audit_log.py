"""The audit log page: entries as sentences, each filter, keyset pages, per-object history, who may read it."""

import re
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from dashboard import audit
from dashboard.audit_log import sentence
from dashboard.models import AuditEvent, Membership, Role, User
from dashboard.services.accounts import account_record_failed_sign_in, account_record_sign_in
from dashboard.services.servers import server_connect, server_rename
from dashboard.services.teams import member_remove, member_set_role
from streams.services import PostmarkTrouble, stream_archive, stream_create
from tests.conftest import SPARE_TOKEN
from tests.csp import csp_violations

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
MOMENT = datetime(2025, 11, 23, 9, 0, tzinfo=UTC)


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def log_url(**query) -> str:
    url = reverse("audit_log", kwargs={"team_slug": "acme"})
    return url + ("?" + "&".join(f"{key}={value}" for key, value in query.items()) if query else "")


def entry_ids(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-entry="(\d+)"', response.content.decode())]


def all_sentences(response) -> list[str]:
    return [text_of(found) for found in
            re.findall(r'<p class="audit-entry__sentence">(.*?)</p>', response.content.decode(), re.S)]


def sentences(response) -> list[str]:
    """The entries' sentences, leaving out sign-ins: every test browser signs in, which the log records."""
    return [line for line in all_sentences(response) if not line.endswith(" signed in")]


def older_link(response) -> str | None:
    found = re.search(r'<a [^>]*href="([^"]*)"[^>]*rel="next"', response.content.decode())
    return unescape(found.group(1)) if found else None


@pytest.fixture
def at(monkeypatch):
    """Entries recorded inside `with at(moment):` carry that moment."""

    @contextmanager
    def frozen(moment: datetime):
        with monkeypatch.context() as patch:
            patch.setattr(timezone, "now", lambda: moment)
            yield

    return frozen


@pytest.fixture
def billing(server_a, editor, team_a):
    stream_create(actor=editor, team=team_a, server=server_a, stream_id="billing-news", name="Billing News",
                  stream_type="Broadcasts")
    stream_archive(actor=editor, team=team_a, server=server_a, stream_id="billing-news", confirmation="billing-news")


@pytest.fixture
def staging(sandbox, team_a, owner):
    sandbox.add_server(SPARE_TOKEN, name="Acme Staging")
    return server_connect(actor=owner, team=team_a, name="Acme Staging", token=SPARE_TOKEN, sandbox=True)


def rename(actor, team, number: int):
    return audit.record(action="server.rename", actor=actor, team=team, role=Role.OWNER, target_type="server",
                        target_id=f"s-{number}", target_label=f"Server {number}",
                        changes={"name": [f"Old {number}", f"Server {number}"]})


# --- Reading it ---------------------------------------------------------------------------------


def test_an_admin_reads_what_happened_as_sentences_newest_first(client_as, admin, billing):
    response = client_as(admin).get(log_url())
    assert response.status_code == 200
    said = sentences(response)
    assert said[0] == "Edith Editor (editor) archived stream billing-news on Acme Production"
    assert said[1] == "Edith Editor (editor) created stream billing-news on Acme Production"
    assert "Olivia Owner (owner) connected server Acme Production" in said
    assert said[-1] == "Olivia Owner (owner) created the team"
    assert csp_violations(response.content.decode()) == []


def test_the_page_says_how_long_entries_are_kept(client_as, admin, settings):
    settings.AUDIT_RETENTION_DAYS = 400
    page = text_of(client_as(admin).get(log_url()).content.decode())
    assert "Entries can't be changed or deleted; each is kept for 400 days, then removed." in page


def test_each_entry_shows_its_time_in_the_readers_zone_with_address_and_browser(client_as, admin, owner, team_a, at):
    admin.time_zone = "Europe/Berlin"
    admin.save()
    agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
    with at(MOMENT), audit.context(ip="198.51.100.4", user_agent=agent):
        rename(owner, team_a, 1)
    page = text_of(client_as(admin).get(log_url()).content.decode())
    assert "23 November 2025, 10:00 CET · from 198.51.100.4 · Chrome 131 on Linux Details" in page
    assert f"Browser Chrome 131 on Linux {agent} " in page  # the whole string, in the entry's details


def test_an_entry_opens_to_show_each_changed_value_before_and_after(client_as, admin, owner, team_a, server_a):
    server_rename(actor=owner, team=team_a, server=server_a, name="Acme Main")
    html = client_as(admin).get(log_url()).content.decode()
    first = next(entry for entry in html.split('<li class="card audit-entry"') if "renamed server" in entry)
    assert "<details" in first
    rows = [text_of(row) for row in re.findall(r"<tr>(.*?)</tr>", first.split("<tbody>")[1], re.S)]
    assert rows == ["Name Acme Production Acme Main"]
    assert "Field Before After" in text_of(first)
    assert "Request ID test-request" in text_of(first)


def test_a_persons_name_links_to_everything_they_did(client_as, admin, editor, billing):
    html = client_as(admin).get(log_url()).content.decode()
    assert f'<a href="/t/acme/audit/?person={editor.pk}" title="Everything Edith Editor did">Edith Editor</a>' in html


def test_refused_failed_and_denied_attempts_are_shown_with_why(client_as, admin, editor, viewer, team_a, server_a,
                                                              sandbox, billing):
    with pytest.raises(Exception, match="default transactional stream"):
        stream_archive(actor=editor, team=team_a, server=server_a, stream_id="outbound", confirmation="outbound")
    sandbox.set_faults(status=503, times=10)
    with pytest.raises(PostmarkTrouble):
        stream_create(actor=editor, team=team_a, server=server_a, stream_id="promo", name="Promo",
                      stream_type="Broadcasts")
    sandbox.clear_faults()
    client_as(viewer).post(reverse("stream_archive", args=["acme", server_a.pk, "billing-news"]))
    said = sentences(client_as(admin).get(log_url()))
    assert said[0] == ("Victor Viewer (viewer) tried to archive a stream (from the page to archive stream "
                       "billing-news on Acme Production) — not allowed: Needs the Editor role or higher")
    assert said[1].startswith("Edith Editor (editor) tried to create stream promo on Acme Production — failed: ")
    assert said[2] == ("Edith Editor (editor) tried to archive stream outbound on Acme Production — refused: "
                       "A default stream that Postmark never archives")


@pytest.mark.parametrize(("fields", "words"), [
    ({"action": "member.role_change", "target_type": "member", "target_label": "edith@acme.example",
      "changes": {"role": ["Editor", "Admin"]}},
     "Olivia Owner (owner) changed the role of Edith Editor from Editor to Admin"),
    ({"action": "member.remove", "target_type": "member", "target_label": "gone@acme.example", "target_id": "999"},
     "Olivia Owner (owner) removed gone@acme.example"),
    ({"action": "member.invite", "target_type": "invitation", "target_label": "new@acme.example"},
     "Olivia Owner (owner) invited new@acme.example"),
    ({"action": "invitation.revoke", "target_type": "invitation", "target_label": "new@acme.example",
      "outcome": "refused", "detail": "This invitation is already accepted; there is nothing to revoke."},
     "Olivia Owner (owner) tried to revoke the invitation for new@acme.example — refused: This invitation is "
     "already accepted; there is nothing to revoke"),
    ({"action": "server.token.replace", "target_type": "server", "target_label": "Acme Production"},
     "Olivia Owner (owner) replaced the token of Acme Production"),
    ({"action": "server.stream_limit", "target_type": "server", "target_label": "Acme Production"},
     "Olivia Owner (owner) changed the stream limit of Acme Production"),
    ({"action": "access.denied", "target_type": "page", "target_label": "/t/acme/servers/connect/",
      "outcome": "denied", "detail": "Needs the Admin role or higher."},
     "Olivia Owner (owner) tried to open the page /t/acme/servers/connect/ — not allowed: Needs the Admin role or "
     "higher"),
    ({"action": "audit.export", "target_type": "team", "target_label": "Acme", "detail": "As CSV. All entries."},
     "Olivia Owner (owner) exported the audit log"),
])
def test_each_kind_of_entry_reads_as_a_plain_sentence(owner, editor, fields, words):
    event = AuditEvent(actor_id=owner.pk, actor_label=owner.email, actor_role="owner",
                       **{"outcome": "success", "target_id": str(editor.pk), **fields})
    assert sentence(event, {owner.pk: "Olivia Owner", editor.pk: "Edith Editor"}) == words


def test_a_former_members_entries_keep_their_name_and_the_system_is_named_too(owner, team_a, admin):
    event = AuditEvent(actor_id=admin.pk, actor_label=admin.email, actor_role="admin", action="stream.edit",
                       target_type="stream", target_label="news on Acme Production", outcome="success")
    assert sentence(event) == "adam@acme.example (admin) edited stream news on Acme Production"
    system = AuditEvent(actor_label="rotate_token_keys", action="token_keys.rotate", target_type="server",
                        target_label="Acme Production", outcome="success")
    assert sentence(system) == "rotate_token_keys re-encrypted the token of Acme Production under the newest key"


def test_members_sign_ins_show_but_not_other_peoples_or_other_teams(client_as, admin, editor, outsider, team_b,
                                                                    server_b):
    account_record_sign_in(actor=editor)
    account_record_sign_in(actor=outsider)
    account_record_failed_sign_in(email="edith@acme.example")
    account_record_failed_sign_in(email="oscar@globex.example")
    said = all_sentences(client_as(admin).get(log_url(group="signin")))
    assert said == ["Adam Admin signed in",
                    "Someone tried to sign in as edith@acme.example — refused: Wrong e-mail address or password",
                    "Edith Editor signed in"]
    everything = text_of(client_as(admin).get(log_url()).content.decode())
    assert "Globex" not in everything and "Oscar" not in everything and "oscar@" not in everything


def test_sign_ins_from_before_someone_joined_are_not_shown(client_as, admin, make_user, team_a, at):
    newcomer = make_user("nina@acme.example", "Nina New")
    with at(MOMENT):
        account_record_sign_in(actor=newcomer)
    Membership.objects.create(team=team_a, user=newcomer, role=Role.VIEWER, joined_at=MOMENT + timedelta(days=1))
    with at(MOMENT + timedelta(days=2)):
        account_record_sign_in(actor=newcomer)
    response = client_as(admin).get(log_url(group="signin", person=newcomer.pk))
    assert all_sentences(response) == ["Nina New signed in"]


# --- Filters ------------------------------------------------------------------------------------


def test_the_person_filter_shows_only_what_that_person_did(client_as, admin, editor, owner, billing):
    response = client_as(admin).get(log_url(person=editor.pk))
    said = sentences(response)
    assert said and all(line.startswith("Edith Editor") for line in said)
    assert f'<option value="{editor.pk}" selected>Edith Editor (edith@acme.example)</option>' in \
        response.content.decode()


def test_the_person_filter_offers_members_and_former_members(client_as, admin, owner, editor, team_a):
    member_remove(actor=owner, team=team_a, membership=Membership.objects.get(user=editor, team=team_a))
    html = client_as(admin).get(log_url(person=editor.pk)).content.decode()
    assert f'<option value="{editor.pk}" selected>edith@acme.example (former member)</option>' in html
    assert ">Adam Admin (adam@acme.example)</option>" in html
    assert sentences(client_as(admin).get(log_url(person=owner.pk)))[0] == "Olivia Owner (owner) removed Edith Editor"


@pytest.mark.parametrize(("group", "first"), [
    ("streams", "Edith Editor (editor) archived stream billing-news on Acme Production"),
    ("servers", "Olivia Owner (owner) renamed server Acme Main (formerly Acme Production)"),
    ("members", "Olivia Owner (owner) changed the role of Victor Viewer from Viewer to Editor"),
    ("signin", "Victor Viewer signed in"),
    ("other", "Victor Viewer (viewer) tried to open the page to connect a server — not allowed: Needs the "
              "Admin role or higher"),
])
def test_the_action_filter_shows_one_group_of_actions(client_as, admin, owner, viewer, team_a, server_a, billing,
                                                      group, first):
    client_as(viewer).get(reverse("server_connect", args=["acme"]))
    member_set_role(actor=owner, team=team_a, membership=Membership.objects.get(user=viewer, team=team_a),
                    role=Role.EDITOR)
    server_rename(actor=owner, team=team_a, server=server_a, name="Acme Main")
    account_record_sign_in(actor=viewer)
    said = all_sentences(client_as(admin).get(log_url(group=group)))
    said = [line for line in said if not line.startswith("Adam Admin")]
    assert said[0] == first
    others = {"streams": "stream billing-news", "servers": "server Acme", "members": "the role of",
              "signin": "signed in", "other": "tried to open"}
    assert not [line for line in said for key, words in others.items() if key != group and words in line]


def test_the_server_filter_shows_the_server_and_its_streams_only(client_as, admin, editor, team_a, server_a, staging,
                                                                billing):
    stream_create(actor=editor, team=team_a, server=staging, stream_id="billing-news", name="Billing News",
                  stream_type="Broadcasts")
    said = sentences(client_as(admin).get(log_url(server=server_a.pk)))
    assert said == ["Edith Editor (editor) archived stream billing-news on Acme Production",
                    "Edith Editor (editor) created stream billing-news on Acme Production",
                    "Olivia Owner (owner) connected server Acme Production"]
    assert sentences(client_as(admin).get(log_url(server=staging.pk)))[0] == \
        "Edith Editor (editor) created stream billing-news on Acme Staging"


def test_the_stream_filter_finds_a_stream_on_every_server_or_on_one(client_as, admin, editor, team_a, server_a,
                                                                   staging, billing):
    stream_create(actor=editor, team=team_a, server=staging, stream_id="billing-news", name="Billing News",
                  stream_type="Broadcasts")
    stream_create(actor=editor, team=team_a, server=staging, stream_id="billing", name="Billing",
                  stream_type="Broadcasts")
    everywhere = sentences(client_as(admin).get(log_url(stream="billing-news")))
    assert len(everywhere) == 3 and all("billing-news" in line for line in everywhere)
    on_one = sentences(client_as(admin).get(log_url(stream="billing-news", server=staging.pk)))
    assert on_one == ["Edith Editor (editor) created stream billing-news on Acme Staging"]


def test_the_outcome_filter_shows_refused_attempts_only(client_as, admin, editor, team_a, server_a, billing):
    with pytest.raises(Exception, match="default transactional stream"):
        stream_archive(actor=editor, team=team_a, server=server_a, stream_id="outbound", confirmation="outbound")
    said = sentences(client_as(admin).get(log_url(outcome="refused")))
    assert len(said) == 1 and said[0].startswith("Edith Editor (editor) tried to archive stream outbound")


def test_the_date_range_counts_whole_days_in_the_readers_zone(client_as, admin, owner, team_a, at):
    # 23:30 UTC on 23 November is already 24 November in Berlin.
    for number, moment in enumerate([datetime(2025, 11, 22, 22, 30, tzinfo=UTC),   # 22 Nov 23:30 Berlin
                                     datetime(2025, 11, 22, 23, 30, tzinfo=UTC),   # 23 Nov 00:30 Berlin
                                     datetime(2025, 11, 23, 22, 30, tzinfo=UTC),   # 23 Nov 23:30 Berlin
                                     datetime(2025, 11, 23, 23, 30, tzinfo=UTC)]):  # 24 Nov 00:30 Berlin
        with at(moment):
            rename(owner, team_a, number)
    browser = client_as(admin)
    assert sentences(browser.get(log_url(**{"from": "2025-11-23", "to": "2025-11-23"}))) == [
        "Olivia Owner (owner) renamed server Server 3 (formerly Old 3)",
        "Olivia Owner (owner) renamed server Server 2 (formerly Old 2)"]
    admin.time_zone = "Europe/Berlin"
    admin.save()
    assert sentences(browser.get(log_url(**{"from": "2025-11-23", "to": "2025-11-23"}))) == [
        "Olivia Owner (owner) renamed server Server 2 (formerly Old 2)",
        "Olivia Owner (owner) renamed server Server 1 (formerly Old 1)"]
    assert "From 23 November 2025 to 23 November 2025 (Europe/Berlin time)" in text_of(
        browser.get(log_url(**{"from": "2025-11-23", "to": "2025-11-23"})).content.decode())
    only_from = sentences(browser.get(log_url(**{"from": "2025-11-24", "group": "servers"})))
    assert only_from[-1] == "Olivia Owner (owner) renamed server Server 3 (formerly Old 3)"


@pytest.mark.parametrize("query", [
    {"person": "abc"}, {"person": "99999999999999999999999"}, {"group": "everything"}, {"server": "not-a-server"},
    {"outcome": "maybe"}, {"from": "2026-13-45"}, {"to": "yesterday"}, {"stream": "a b<c>"},
    {"after": "garbage"}, {"after": "2026-11-23T09:00:00.000000Z_x"}, {"after": "_"},
])
def test_a_bad_filter_value_falls_back_to_no_filter(client_as, admin, billing, query):
    response = client_as(admin).get(log_url(**query))
    assert response.status_code == 200
    assert sentences(response)[0] == "Edith Editor (editor) archived stream billing-news on Acme Production"
    assert len(sentences(response)) == len(sentences(client_as(admin).get(log_url())))


def test_a_person_of_another_team_cannot_be_named_through_the_filter(client_as, admin, outsider, team_b):
    response = client_as(admin).get(log_url(person=outsider.pk))
    assert "oscar" not in response.content.decode().lower()
    assert "All entries" in text_of(response.content.decode())


@pytest.mark.parametrize("typed", ["23 November 2025", "23 Nov 2025", "November 23, 2025", "2025-11-23"])
def test_a_day_is_typed_as_the_pages_write_it_and_shown_back_that_way(client_as, admin, owner, team_a, at, typed):
    with at(MOMENT):
        rename(owner, team_a, 1)
    page = client_as(admin).get(log_url(**{"from": typed, "to": typed})).content.decode()

    assert 'name="from" value="23 November 2025"' in page
    assert "From 23 November 2025 to 23 November 2025 (UTC time)" in text_of(page)
    assert "Days are written like 3 December 2026." in text_of(page)


def test_a_day_that_cannot_be_read_is_said_and_left_out(client_as, admin, billing):
    page = client_as(admin).get(log_url(**{"from": "12/03/2025"})).content.decode()

    assert "“12/03/2025” in From is not a day this page can read, so it is left out: write it like 3 December " \
           "2026." in text_of(page)
    assert 'name="from" value="12/03/2025"' in page
    assert "All entries" in text_of(page)


def test_from_after_to_is_read_the_right_way_round(client_as, admin, owner, team_a, at):
    with at(MOMENT):
        rename(owner, team_a, 1)
    said = sentences(client_as(admin).get(log_url(**{"from": "2025-11-24", "to": "2025-11-22"})))
    assert said == ["Olivia Owner (owner) renamed server Server 1 (formerly Old 1)"]


def test_no_match_says_so_plainly_and_offers_to_clear(client_as, admin, billing):
    page = text_of(client_as(admin).get(log_url(stream="nothing-here")).content.decode())
    assert "No entries match these filters. Try a longer date range or fewer filters. Clear the filters" in page


# --- Pages --------------------------------------------------------------------------------------


@pytest.fixture
def hundred_and_twenty(owner, team_a, at):
    """120 renames, three to a moment, so page boundaries fall between entries of the same moment."""
    for number in range(120):
        with at(MOMENT + timedelta(minutes=number // 3)):
            rename(owner, team_a, number)


def test_older_entries_walk_every_entry_once_in_order(client_as, admin, hundred_and_twenty):
    browser = client_as(admin)
    url, pages = log_url(group="servers"), []
    while url:
        response = browser.get(url)
        pages.append(entry_ids(response))
        url = older_link(response)
    assert [len(ids) for ids in pages] == [50, 50, 20]
    seen = [pk for ids in pages for pk in ids]
    assert len(set(seen)) == 120
    renames = AuditEvent.objects.filter(action="server.rename").order_by("-occurred_at", "-id")
    assert seen == list(renames.values_list("id", flat=True))


def test_a_page_link_keeps_its_place_when_new_entries_arrive(client_as, admin, owner, team_a, hundred_and_twenty):
    browser = client_as(admin)
    first = browser.get(log_url(group="servers"))
    second_url = older_link(first)
    expected = entry_ids(browser.get(second_url))
    for number in range(200, 205):
        rename(owner, team_a, number)
    assert entry_ids(browser.get(second_url)) == expected
    assert "group=servers" in second_url and "after=" in second_url


def test_the_last_page_says_it_is_the_oldest_and_links_back_to_the_newest(client_as, admin, hundred_and_twenty):
    browser = client_as(admin)
    last = browser.get(older_link(browser.get(older_link(browser.get(log_url(group="servers"))))))
    page = text_of(last.content.decode())
    assert "These are the oldest entries that match." in page
    assert "Back to the newest entries" in page
    assert older_link(last) is None


@pytest.mark.parametrize("query", [{}, {"group": "servers", "outcome": "success"}, {"person": "owner"}])
def test_a_page_costs_the_same_few_queries_however_long_the_log(client_as, admin, owner, team_a, query,
                                                                django_assert_max_num_queries):
    query = {key: owner.pk if value == "owner" else value for key, value in query.items()}
    browser = client_as(admin)
    for number in range(10):
        rename(owner, team_a, number)
    browser.get(log_url(**query))
    with django_assert_max_num_queries(11):
        short = browser.get(log_url(**query))
    for number in range(10, 130):
        rename(owner, team_a, number)
    second = older_link(browser.get(log_url(**query)))
    with django_assert_max_num_queries(11):
        deep = browser.get(second)
    assert short.status_code == deep.status_code == 200


def test_htmx_gets_only_the_results_and_the_response_varies_on_it(client_as, admin, billing):
    browser = client_as(admin)
    partial = browser.get(log_url(group="streams"), **HTMX)
    html = partial.content.decode()
    assert html.lstrip().startswith('<section id="audit-results"')
    assert "<html" not in html and 'id="audit-filters"' not in html
    assert "/t/acme/audit/export.csv?group=streams" in html
    assert "HX-Request" in partial["Vary"]
    assert "HX-Request" in browser.get(log_url())["Vary"]


def test_htmx_puts_the_short_form_of_the_filters_in_the_address_bar(client_as, admin, hundred_and_twenty):
    browser = client_as(admin)
    response = browser.get(log_url(person="", group="servers", server="", stream="", outcome="", **{"from": ""}),
                           **HTMX)
    assert response["HX-Push-Url"] == "/t/acme/audit/?group=servers"
    older = browser.get(older_link(response), **HTMX)
    assert older["HX-Push-Url"] == older_link(response)
    assert browser.get(log_url(group="servers", after="nonsense"), **HTMX)["HX-Push-Url"] == log_url(group="servers")


def test_the_filter_form_works_without_javascript_and_pushes_its_state_to_the_url(client_as, admin, billing):
    html = client_as(admin).get(log_url()).content.decode()
    form = re.search(r'<form id="audit-filters"[^>]*>', html).group(0)
    assert 'method="get"' in form and 'action="/t/acme/audit/"' in form
    assert 'hx-push-url="true"' in form and 'hx-target="#audit-results"' in form


# --- Who may read it ----------------------------------------------------------------------------


@pytest.mark.parametrize(("persona", "status"), [("viewer", 403), ("editor", 403), ("admin", 200), ("owner", 200),
                                                 ("outsider", 404)])
def test_only_admins_and_owners_read_the_log(client_as, cast, persona, status):
    assert client_as(cast[persona]).get(log_url()).status_code == status


def test_the_team_menu_offers_the_log_to_admins_and_owners_only(client_as, cast):
    home = reverse("team_home", args=["acme"])
    for persona in ("viewer", "editor", "admin", "owner"):
        html = client_as(cast[persona]).get(home).content.decode()
        assert ('href="/t/acme/audit/"' in html) is Role(persona).at_least(Role.ADMIN), persona


# --- Per-object history -------------------------------------------------------------------------


def test_a_servers_page_shows_its_history_to_every_member_and_the_log_link_to_admins(client_as, viewer, admin,
                                                                                    server_a, staging, billing):
    url = reverse("server_detail", args=["acme", server_a.pk])
    seen_by_viewer = client_as(viewer).get(url).content.decode()
    history = text_of(seen_by_viewer.split('id="history-heading"')[1])
    assert "Edith Editor (editor) archived stream billing-news on Acme Production" in history
    assert "Olivia Owner (owner) connected server Acme Production" in history
    assert "Acme Staging" not in history
    assert "/t/acme/audit/" not in seen_by_viewer
    seen_by_admin = client_as(admin).get(url).content.decode()
    assert f'href="/t/acme/audit/?server={server_a.pk}"' in seen_by_admin


def test_refused_visits_to_a_servers_pages_are_in_its_log_but_not_on_its_page(client_as, viewer, admin, server_a):
    client_as(viewer).get(reverse("server_token", args=["acme", server_a.pk]))
    in_log = sentences(client_as(admin).get(log_url(server=server_a.pk)))
    assert in_log[0] == ("Victor Viewer (viewer) tried to open the page to replace the token of Acme Production "
                         "— not allowed: Needs the Admin role or higher")
    on_page = client_as(admin).get(reverse("server_detail", args=["acme", server_a.pk])).content.decode()
    assert "tried to open" not in on_page


def test_a_streams_page_links_admins_to_its_entries_in_the_log(client_as, editor, admin, server_a, billing):
    url = reverse("stream_detail", args=["acme", server_a.pk, "billing-news"])
    link = f'href="/t/acme/audit/?server={server_a.pk}&amp;stream=billing-news"'
    assert link in client_as(admin).get(url).content.decode()
    assert "/t/acme/audit/" not in client_as(editor).get(url).content.decode()


def test_the_streams_log_link_shows_exactly_its_history(client_as, admin, server_a, billing):
    said = sentences(client_as(admin).get(log_url(server=server_a.pk, stream="billing-news")))
    assert said == ["Edith Editor (editor) archived stream billing-news on Acme Production",
                    "Edith Editor (editor) created stream billing-news on Acme Production"]


def test_a_server_page_costs_the_same_queries_with_a_long_history(client_as, viewer, owner, team_a, server_a,
                                                                 django_assert_max_num_queries):
    url = reverse("server_detail", args=["acme", server_a.pk])
    browser = client_as(viewer)
    browser.get(url)
    for number in range(40):
        server_rename(actor=owner, team=team_a, server=server_a, name=f"Acme {number}")
        User.objects.create_user(email=f"former{number}@acme.example", password="x")
    with django_assert_max_num_queries(10):
        response = browser.get(url)
    assert text_of(response.content.decode()).count("renamed server") == 10
