"""A stale page is drawn from the last-known copy while Postmark is asked (`streams.views.Draft`), and kept only
when Postmark's answer holds the same streams: it must then be byte for byte the page drawn from the answer, and
any other answer, or trouble, must give the page drawn from what Postmark said."""

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from dashboard.postmark.client import SANDBOX_URL, PostmarkClient
from streams import services
from streams.models import StreamCopy
from streams.services import stream_list
from streams.views import Draft
from tests.conftest import TOKEN_A
from tests.streams.test_last_known import age_the_copy
from tests.streams.test_list import HTMX, list_url, rows, text

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


@pytest.fixture
def frozen(monkeypatch):
    """Every `timezone.now()` answers one moment, so two pages drawn at different times can be compared."""
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    return NOW


@pytest.fixture
def postmark(sandbox, server_a):
    client = PostmarkClient(TOKEN_A, base_url=SANDBOX_URL)
    client.create_stream(id="newsletter", name="Monthly <b>newsletter</b>", stream_type="Broadcasts",
                         description="News & offers")
    client.create_stream(id="old-promo", name="Old promotions", stream_type="Broadcasts")
    client.archive_stream("old-promo")
    stream_list(server=server_a)  # the first copy
    return client


@pytest.fixture
def drafts(monkeypatch):
    """What each draft came to: the page it gave (None when the page was drawn again from the answer)."""
    kept = []
    original = Draft.redated

    def redated(self, answer, as_of_context):
        drafted = self.response is not None
        page = original(self, answer, as_of_context)
        if drafted:
            kept.append(page)
        return page

    monkeypatch.setattr(Draft, "redated", redated)
    return kept


def without_csrf_tokens(response) -> str:
    # Each drawing masks the CSRF token anew (forms, htmx's headers); everything else must be the same.
    return re.sub(r"\b[A-Za-z0-9]{64}\b", "(csrf)", response.content.decode())


@pytest.mark.parametrize("persona", ["viewer", "editor"])
@pytest.mark.parametrize(("params", "headers"), [({}, {}), ({"archived": "1", "sort": "created"}, {}),
                                                 ({"archived": "1", "q": "news"}, HTMX)])
def test_a_kept_draft_is_byte_for_byte_the_page_drawn_from_postmarks_answer(
    request, client_as, server_a, postmark, frozen, drafts, monkeypatch, persona, params, headers
):
    browser = client_as(request.getfixturevalue(persona))
    age_the_copy(server_a)
    drafted = browser.get(list_url(server_a, **params), **headers)
    assert drafts == [drafted], "the page drawn while Postmark answered was kept"

    monkeypatch.setattr(Draft, "keep", lambda *args: None)  # no draft: drawn from Postmark's answer
    age_the_copy(server_a)
    answered = browser.get(list_url(server_a, **params), **headers)

    assert len(drafts) == 1, "no draft this time"
    assert without_csrf_tokens(drafted) == without_csrf_tokens(answered)
    assert "As of" in text(drafted) and "an hour ago" not in text(drafted), "the answer's time, not the copy's"


def test_a_draft_is_drawn_again_when_postmark_lists_something_else(client_as, viewer, server_a, postmark, drafts):
    age_the_copy(server_a)
    postmark.edit_stream("newsletter", name="Weekly digest")  # changed in Postmark since the copy

    page = client_as(viewer).get(list_url(server_a))

    assert drafts == [None]
    assert "Weekly digest" in text(page) and "Monthly" not in text(page)


def test_a_stream_added_in_postmark_shows_on_the_page_that_found_it(client_as, viewer, server_a, postmark, drafts):
    age_the_copy(server_a)
    postmark.create_stream(id="receipts", name="Receipts", stream_type="Transactional")

    page = client_as(viewer).get(list_url(server_a))

    assert drafts == [None]
    assert "receipts" in rows(page)


@pytest.mark.parametrize(("faults", "words"), [({"status": 503}, "Postmark isn't answering"),
                                               ({"status": 429}, "Postmark is busy")])
def test_when_postmark_fails_the_draft_is_not_kept_and_the_copy_shows_as_stale(
    client_as, viewer, server_a, postmark, sandbox, drafts, faults, words
):
    age_the_copy(server_a, seconds=420)
    sandbox.set_faults(**faults)

    page = client_as(viewer).get(list_url(server_a))

    assert drafts == []  # trouble: nothing to compare, the page is drawn with the trouble
    assert words in text(page)
    assert "Showing what Postmark said at" in text(page) and "7 minutes ago" in text(page)
    assert "newsletter" in rows(page)


def test_a_message_on_a_draft_drawn_again_is_shown_once(client_as, viewer, server_a, postmark, drafts):
    browser = client_as(viewer)
    browser.post(reverse("preferences"), {"time_zone": "Europe/Berlin"})  # "Saved. …", shown on the next page
    age_the_copy(server_a)
    postmark.edit_stream("newsletter", name="Weekly digest")

    page = browser.get(list_url(server_a))
    after = browser.get(list_url(server_a))

    assert drafts == [None]
    assert text(page).count("Saved. Times are now shown in Europe/Berlin") == 1
    assert "Saved." not in text(after)


# --- The service -------------------------------------------------------------------------------------------


def test_no_draft_while_the_copy_is_fresh_or_without_a_copy(server_a, sandbox):
    drawn = []
    stream_list(server=server_a, meanwhile=drawn.append)  # no copy yet: nothing to draw from
    stream_list(server=server_a, meanwhile=drawn.append)  # fresh: Postmark isn't asked

    assert drawn == []


def test_the_draft_gets_the_copys_listing_as_the_answer_would_be_filtered(server_a, postmark):
    age_the_copy(server_a)
    drawn = []

    answer = stream_list(server=server_a, stream_type="broadcasts", include_archived=True, meanwhile=drawn.append)

    [early] = drawn
    assert [stream.id for stream in early.streams] == [stream.id for stream in answer.streams]
    assert early.as_of == timezone.now() - timedelta(seconds=3600) or early.as_of < answer.as_of
    assert (early.stream_type, early.include_archived, early.archived_count) == ("broadcasts", True, 1)


def test_a_draft_that_fails_still_takes_in_postmarks_answer_and_lets_others_ask(server_a, postmark):
    age_the_copy(server_a)
    before = StreamCopy.objects.get(server=server_a).fetched_at

    def broken(listing):
        raise RuntimeError("a page that could not be drawn")

    with pytest.raises(RuntimeError):
        stream_list(server=server_a, meanwhile=broken)

    assert StreamCopy.objects.get(server=server_a).fetched_at > before
    assert cache.get(services._lock_key(server_a)) is None
