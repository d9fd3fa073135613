"""A server's streams page: the table in plain words, its filters, search and sorting in the URL, the htmx
partial, what each role is offered, and the page staying usable when Postmark is in trouble."""

import html
import logging
import re
import uuid
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from dashboard.models import Server
from dashboard.postmark.client import SANDBOX_URL, PostmarkClient
from dashboard.postmark.sandbox import Sandbox, install
from dashboard.services.servers import server_connect
from tests.conftest import TOKEN_A
from tests.csp import csp_violations

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
STAGING_TOKEN = "eeeeeeee-0000-4000-8000-00000000e5e5"
ACTIVE_BY_NAME = ["billing-receipts", "broadcast", "inbound", "outbound", "newsletter", "password-resets",
                  "product-news"]


def list_url(server, **params) -> str:
    path = reverse("stream_list", args=[server.team.slug, server.pk])
    return f"{path}?{urlencode(params)}" if params else path


def text(response_or_html) -> str:
    """The page as a person reads it: tags dropped, entities decoded, spaces collapsed."""
    markup = response_or_html if isinstance(response_or_html, str) else response_or_html.content.decode()
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def rows(response) -> list[str]:
    """The stream IDs of the table's rows, top to bottom."""
    return re.findall(r'<tr data-stream="([^"]+)"', response.content.decode())


def row(response, stream_id: str) -> str:
    found = re.search(rf'<tr data-stream="{stream_id}".*?</tr>', response.content.decode(), re.S)
    assert found, f"no row for {stream_id}"
    return text(found.group(0))


@pytest.fixture
def postmark(sandbox, server_a):
    """Acme Production's streams as someone made them in Postmark, seconds apart so 'created' sorts them."""
    client = PostmarkClient(TOKEN_A, base_url=SANDBOX_URL)
    sandbox.grant_custom_unsubscribe(TOKEN_A)
    for stream_id, name, stream_type, description, handling in [
        ("billing-receipts", "Billing receipts", "Transactional", "Receipts sent after each payment", None),
        ("password-resets", "Password resets", "Transactional", None, None),
        ("newsletter", "Monthly newsletter", "Broadcasts", "News for customers who opted in. " * 5, "Postmark"),
        ("product-news", "Product announcements", "Broadcasts", None, "Custom"),
        ("old-promo", "Old promotions", "Broadcasts", "Spring promotion, 2024", None),
    ]:
        sandbox.advance_clock(seconds=2)
        client.create_stream(id=stream_id, name=name, stream_type=stream_type, description=description,
                             unsubscribe_handling=handling)
    client.archive_stream("old-promo")
    return client


@pytest.fixture
def staging(sandbox, team_a, owner):
    """An older server with only the two first default streams: no broadcasts stream at all."""
    sandbox.add_server(STAGING_TOKEN, name="Acme Staging", legacy=True)
    return server_connect(actor=owner, team=team_a, name="Acme Staging", token=STAGING_TOKEN, sandbox=True)


# --- The table ---------------------------------------------------------------------------------------


def test_the_table_shows_each_active_stream_in_plain_words(client_as, viewer, server_a, postmark):
    response = client_as(viewer).get(list_url(server_a))
    page = text(response)

    assert response.status_code == 200
    assert rows(response) == ACTIVE_BY_NAME
    assert row(response, "billing-receipts").startswith(
        "Billing receipts Receipts sent after each payment billing-receipts Transactional None")
    assert "Broadcasts By Postmark" in row(response, "newsletter")
    assert "Broadcasts By you" in row(response, "product-news")
    assert "Inbound None" in row(response, "inbound")
    assert row(response, "outbound").endswith("Not changed Active")
    assert "8 of 10 stream slots used" in page
    assert "Archived streams keep their slot until Postmark deletes them" in page
    assert "10 is Postmark's usual limit per server; Postmark support can raise it." in page
    for tab in ("All (7)", "Transactional (3)", "Broadcasts (3)", "Inbound (1)", "Include archived (1)"):
        assert tab in page
    assert ("Broadcasts Bulk e-mail to many people at once, such as newsletters and announcements. Each message "
            "carries an unsubscribe link.") in page
    assert csp_violations(response.content.decode()) == []


def test_a_long_description_is_cut_short_in_the_table_but_kept_whole_in_its_tooltip(client_as, viewer, server_a,
                                                                                     postmark):
    response = client_as(viewer).get(list_url(server_a))
    description = "News for customers who opted in. " * 5
    assert f'title="{description}"' in response.content.decode()
    assert description.strip() not in row(response, "newsletter")
    assert "News for customers who opted in. News for customers" in row(response, "newsletter")


def test_each_stream_links_to_its_own_page(client_as, viewer, server_a, postmark):
    page = client_as(viewer).get(list_url(server_a)).content.decode()
    detail = reverse("stream_detail", args=["acme", server_a.pk, "product-news"])
    assert f'<a href="{detail}">Product announcements</a>' in page


# --- Filters, search and sorting ------------------------------------------------------------------------


def test_choosing_a_type_shows_only_that_type_and_keeps_the_choice_in_the_form(client_as, viewer, server_a,
                                                                                postmark):
    response = client_as(viewer).get(list_url(server_a, type="broadcasts"))
    assert rows(response) == ["broadcast", "newsletter", "product-news"]
    assert '<input type="radio" name="type" value="broadcasts" checked>' in response.content.decode()
    assert '<input type="radio" name="type" value="all">' in response.content.decode()


def test_including_archived_streams_shows_them_with_their_countdown(client_as, viewer, server_a, sandbox, postmark):
    sandbox.backdate_archive(TOKEN_A, "old-promo", days=40.52)  # 4 days, 11 hours and a half left
    response = client_as(viewer).get(list_url(server_a, archived="1"))

    assert "old-promo" in rows(response)
    state = row(response, "old-promo")
    assert "Archived Urgent: purging within 7 days 4 days, 11 hours left" in state
    assert "Postmark deletes it on" in state
    assert 'name="archived" value="1" checked' in response.content.decode()
    assert "old-promo" not in rows(client_as(viewer).get(list_url(server_a)))


@pytest.mark.parametrize("search,expected", [
    ("receipts", ["billing-receipts"]),                       # a word of the name
    ("PRODUCT-news", ["product-news"]),                        # the ID, in any case
    ("payment", ["billing-receipts"]),                         # a word of the description
    ("news", ["newsletter", "product-news"]),                  # the ID of one, the name of the other
    ("  monthly   newsletter ", ["newsletter"]),               # extra spaces do not matter
])
def test_the_search_looks_at_name_id_and_description(client_as, viewer, server_a, postmark, search, expected):
    response = client_as(viewer).get(list_url(server_a, q=search))
    assert rows(response) == expected
    assert f'name="q" value="{" ".join(search.split())}"' in response.content.decode()


def test_a_search_without_a_match_says_so_and_offers_to_clear_it(client_as, viewer, server_a, postmark):
    response = client_as(viewer).get(list_url(server_a, type="transactional", q="xyz"))
    page = text(response)

    assert rows(response) == []
    assert "No streams match “xyz”." in page
    assert "among Transactional streams only" in page
    clear = list_url(server_a, type="transactional")
    assert f'<a href="{clear}">Clear the search</a>' in response.content.decode()
    assert "hidden —" not in page


def test_a_search_that_only_matches_hidden_archived_streams_offers_to_show_them(client_as, viewer, server_a,
                                                                                 postmark):
    response = client_as(viewer).get(list_url(server_a, q="promotion"))
    page = text(response)

    assert rows(response) == []
    assert "No streams match “promotion”." in page
    assert "1 archived stream is hidden — show it" in page
    show = list_url(server_a, archived="1", q="promotion").replace("&", "&amp;")
    assert f'<a href="{show}">show it</a>' in response.content.decode()
    assert rows(client_as(viewer).get(list_url(server_a, archived="1", q="promotion"))) == ["old-promo"]


def test_hidden_archived_streams_are_mentioned_under_a_table_that_has_rows(client_as, viewer, server_a, postmark):
    page = text(client_as(viewer).get(list_url(server_a, type="broadcasts")))
    assert "1 archived stream is hidden — show it" in page
    assert "hidden —" not in text(client_as(viewer).get(list_url(server_a, type="transactional")))


@pytest.mark.parametrize("sort,expected", [
    ("name", ACTIVE_BY_NAME),
    ("created", ["broadcast", "inbound", "outbound", "billing-receipts", "password-resets", "newsletter",
                 "product-news"]),
    ("type", ["broadcast", "newsletter", "product-news", "inbound", "billing-receipts", "outbound",
              "password-resets"]),
])
def test_sorting_orders_the_rows_and_marks_the_sorted_column(client_as, viewer, server_a, postmark, sort, expected):
    response = client_as(viewer).get(list_url(server_a, sort=sort))
    assert rows(response) == expected
    headers = re.findall(r'<th scope="col" aria-sort="ascending">\s*<a [^>]*>(\w+)</a>', response.content.decode())
    assert headers == [sort.capitalize()]


def test_the_sort_links_keep_the_filters_and_the_filters_keep_the_sort(client_as, viewer, server_a, postmark):
    response = client_as(viewer).get(list_url(server_a, type="broadcasts", archived="1", q="news", sort="created"))
    page = response.content.decode()

    by_type = list_url(server_a, type="broadcasts", archived="1", q="news", sort="type").replace("&", "&amp;")
    by_name = list_url(server_a, type="broadcasts", archived="1", q="news").replace("&", "&amp;")
    assert f'href="{by_type}" hx-get="{by_type}"' in page
    assert f'href="{by_name}" hx-get="{by_name}"' in page
    # The filter form sends the current sort along, so changing a filter keeps the order.
    assert '<input type="hidden" name="sort" value="created" form="stream-filters">' in page
    assert '<form id="stream-filters"' in page


def test_unknown_filter_values_fall_back_to_the_defaults(client_as, viewer, server_a, postmark):
    response = client_as(viewer).get(list_url(server_a, type="everything", archived="yes", sort="evil"))
    assert response.status_code == 200
    assert rows(response) == ACTIVE_BY_NAME
    assert '<input type="radio" name="type" value="all" checked>' in response.content.decode()


def test_the_filter_form_works_without_javascript_and_updates_in_place_with_it(client_as, viewer, server_a):
    page = client_as(viewer).get(list_url(server_a)).content.decode()
    form = re.search(r'<form id="stream-filters"[^>]*>', page, re.S).group(0)
    assert 'method="get"' in form and f'action="{list_url(server_a)}"' in form
    assert f'hx-get="{list_url(server_a)}"' in form
    assert 'hx-target="#stream-table"' in form and 'hx-push-url="true"' in form
    # The search box's own change (on leaving it) would repeat the request its typing made.
    assert 'hx-trigger="change target:input:not([name=q]), input delay:300ms from:[name=q], submit"' in form
    assert '<button type="submit" class="button" data-filters-submit>Show streams</button>' in page


# --- The htmx partial -------------------------------------------------------------------------------------


def test_htmx_gets_only_the_table_with_the_same_rows_as_the_page(client_as, viewer, server_a, postmark):
    browser = client_as(viewer)
    params = {"type": "broadcasts", "archived": "1", "sort": "created"}
    page = browser.get(list_url(server_a, **params))
    partial = browser.get(list_url(server_a, **params), **HTMX)

    body = partial.content.decode()
    assert partial.status_code == 200
    assert body.lstrip().startswith('<div id="stream-table"')
    assert "<html" not in body and 'id="stream-filters"' not in body and "What the types mean" not in body
    assert rows(partial) == rows(page) == ["broadcast", "newsletter", "product-news", "old-promo"]
    assert "HX-Request" in partial["Vary"] and "HX-Request" in page["Vary"]


def test_htmx_restoring_a_lost_history_entry_gets_the_whole_page(client_as, viewer, server_a):
    response = client_as(viewer).get(list_url(server_a, type="inbound"), HTTP_HX_HISTORY_RESTORE_REQUEST="true",
                                     **HTMX)
    assert "<html" in response.content.decode()
    assert rows(response) == ["inbound"]


# --- Who is offered what ---------------------------------------------------------------------------------


@pytest.mark.parametrize("persona,offered", [("viewer", False), ("editor", True), ("admin", True)])
def test_only_editors_and_up_are_offered_new_stream_and_restore(client_as, cast, server_a, postmark, persona,
                                                                offered):
    response = client_as(cast[persona]).get(list_url(server_a, archived="1"))
    page = response.content.decode()
    new_stream = reverse("stream_create", args=["acme", server_a.pk])
    restore = reverse("stream_restore", args=["acme", server_a.pk, "old-promo"])
    assert (f'href="{new_stream}">New stream</a>' in page) is offered
    assert (f'<form method="post" action="{restore}"' in page) is offered
    assert ("Restore" in row(response, "old-promo")) is offered


def test_the_restore_form_works_without_javascript_and_comes_back_to_the_same_view(client_as, editor, server_a,
                                                                                   postmark):
    path = list_url(server_a, archived="1", q="promo")
    page = client_as(editor).get(path).content.decode()
    form = re.search(r'<form method="post" action="[^"]+/old-promo/restore/".*?</form>', page, re.S).group(0)
    assert 'name="csrfmiddlewaretoken"' in form
    assert f'<input type="hidden" name="next" value="{path.replace("&", "&amp;")}">' in form


def test_an_empty_type_says_so_and_tells_an_editor_how_to_create_one(client_as, editor, staging):
    response = client_as(editor).get(list_url(staging, type="broadcasts"))
    page = text(response)
    assert "No broadcasts streams on Acme Staging yet." in page
    create = reverse("stream_create", args=["acme", staging.pk])
    assert f'href="{create}?type=broadcasts">Create a Broadcasts stream</a>' in response.content.decode()


def test_an_empty_type_tells_a_viewer_who_can_create_one(client_as, viewer, staging):
    page = text(client_as(viewer).get(list_url(staging, type="broadcasts")))
    assert "No broadcasts streams on Acme Staging yet. Editors of your team can create one." in page
    assert "Create a" not in page


def test_a_server_without_free_slots_says_why_instead_of_offering_new_stream(client_as, editor, server_a, postmark):
    Server.objects.filter(pk=server_a.pk).update(stream_limit=8)
    response = client_as(editor).get(list_url(server_a))
    page = text(response)
    assert "8 of 8 stream slots used" in page
    assert "No free stream slot. All 8 are used, archived streams included" in page
    assert "New stream" not in page
    assert "Postmark's usual limit" not in page


# --- Access -----------------------------------------------------------------------------------------------


def test_another_teams_server_is_not_found(client_as, outsider, viewer, server_a, server_b):
    assert client_as(outsider).get(list_url(server_a)).status_code == 404
    assert client_as(viewer).get(reverse("stream_list", args=["acme", server_b.pk])).status_code == 404
    assert client_as(viewer).get(reverse("stream_list", args=["acme", uuid.uuid4()])).status_code == 404


# --- Trouble with Postmark ----------------------------------------------------------------------------------


TROUBLE = {
    "429": ({"status": 429}, "rate_limited", "Postmark is busy. Postmark asked us to slow down."),
    "500": ({"status": 500}, "unavailable", "Postmark isn't answering. Postmark isn't answering for Acme Production"),
    "503": ({"status": 503}, "unavailable", "Postmark isn't answering. Postmark isn't answering for Acme Production"),
    "502 html": ({"status": 502, "body": "html"}, "unavailable", "Postmark isn't answering for Acme Production"),
    "hang": ({"hang": True}, "unavailable", "Postmark isn't answering for Acme Production right now"),
}


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("fault", TROUBLE, ids=list(TROUBLE))
def test_postmark_trouble_shows_a_banner_and_the_page_stays_usable(client_as, editor, server_a, sandbox, settings,
                                                                   fault, htmx):
    settings.POSTMARK_READ_TIMEOUT = 0.3
    faults, kind, words = TROUBLE[fault]
    sandbox.set_faults(**faults)
    response = client_as(editor).get(list_url(server_a, type="broadcasts"), **(HTMX if htmx else {}))
    page = text(response)

    assert response.status_code == 200
    assert f'data-trouble="{kind}"' in response.content.decode()
    assert words in page
    assert f'<a href="{list_url(server_a, type="broadcasts")}">Try again</a>' in response.content.decode()
    assert rows(response) == []
    if not htmx:
        assert "Streams of Acme Production" in page
        assert '<input type="radio" name="type" value="broadcasts" checked>' in response.content.decode()
        assert "New stream" in page
    sandbox.clear_faults()
    assert rows(client_as(editor).get(list_url(server_a, type="broadcasts"))) == ["broadcast"]


@pytest.mark.parametrize("persona,fix", [
    ("admin", "Replace the token of Acme Production"),
    ("viewer", "Only admins and owners can replace a token: ask an admin of Acme."),
])
def test_a_rejected_token_marks_the_server_and_says_who_can_fix_it(client_as, cast, server_a, persona, fix):
    forgetful = Sandbox()  # Postmark no longer knows the token: it was reset or deleted there
    previous = install(forgetful)
    try:
        response = client_as(cast[persona]).get(list_url(server_a))
    finally:
        install(previous)

    assert response.status_code == 200
    assert "Token rejected. Postmark rejected the token of Acme Production" in text(response)
    assert fix in text(response)
    token_page = reverse("server_token", args=["acme", server_a.pk])
    assert (f'href="{token_page}"' in response.content.decode()) is (persona == "admin")
    assert Server.objects.get(pk=server_a.pk).token_rejected_at is not None


# --- Speed ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fresh_seconds", "calls_per_page"), [(0, 1), (30, 0)])
def test_the_page_asks_postmark_once_whatever_the_filters_and_not_at_all_while_its_copy_is_fresh(
    client_as, viewer, server_a, postmark, caplog, settings, fresh_seconds, calls_per_page
):
    settings.STREAMS_FRESH_SECONDS = fresh_seconds
    browser = client_as(viewer)
    browser.get(list_url(server_a))
    for params in ({}, {"type": "broadcasts", "archived": "1", "q": "news", "sort": "created"}):
        for extra in ({}, HTMX):
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="dashboard.postmark"):
                assert browser.get(list_url(server_a, **params), **extra).status_code == 200
            calls = [record for record in caplog.records
                     if record.name == "dashboard.postmark" and "Postmark GET" in record.getMessage()]
            assert len(calls) == calls_per_page


def test_the_page_runs_a_few_queries_however_many_streams(client_as, viewer, server_a, postmark,
                                                          django_assert_max_num_queries):
    browser = client_as(viewer)
    browser.get(list_url(server_a))
    with django_assert_max_num_queries(6):
        assert browser.get(list_url(server_a, archived="1")).status_code == 200
    with django_assert_max_num_queries(6):
        assert browser.get(list_url(server_a, archived="1"), **HTMX).status_code == 200


def test_the_type_counts_include_archived_streams_when_they_are_shown_and_follow_an_htmx_filter(
    viewer, server_a, postmark, client_as
):
    browser = client_as(viewer)
    hidden = text(browser.get(list_url(server_a)))
    shown = browser.get(list_url(server_a) + "?archived=1", HTTP_HX_REQUEST="true")
    assert "All (7)" in hidden
    assert 'id="type-count-all" hx-swap-oob="true">(8)<' in shown.content.decode()
    assert len(rows(shown)) == 8
