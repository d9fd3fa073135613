"""An answer from Postmark that changes nothing in the last-known copy is written down after the page is sent
(`dashboard.after_response`), and its lock let go then; an answer that changes something is taken in at once; and
anything else the same request does with the copies comes after the put-off writing."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.signals import request_finished
from django.db import close_old_connections, connection
from django.http import HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dashboard import after_response
from dashboard.after_response import AfterResponseMiddleware
from dashboard.models import AuditEvent
from dashboard.postmark.client import SANDBOX_URL, PostmarkClient
from streams import last_known, services
from streams.models import StreamCopy
from streams.services import stream_list, stream_read
from tests.conftest import TOKEN_A
from tests.streams.test_last_known import age_the_copy

pytestmark = pytest.mark.django_db


@pytest.fixture
def postmark(sandbox, server_a):
    client = PostmarkClient(TOKEN_A, base_url=SANDBOX_URL)
    client.create_stream(id="newsletter", name="Monthly newsletter", stream_type="Broadcasts")
    stream_list(server=server_a)  # the first copy
    age_the_copy(server_a)
    return client


class Answer:
    """An answer the server has sent but not yet closed."""

    def __init__(self, response: HttpResponse):
        self.response = response

    def close(self) -> None:
        # As Django's test client closes an answer: without request_finished closing the test's database connection.
        request_finished.disconnect(close_old_connections)
        try:
            self.response.close()
        finally:
            request_finished.connect(close_old_connections)


def in_a_request(view) -> Answer:
    """Runs `view` as the middleware runs a request."""
    return Answer(AfterResponseMiddleware(lambda request: (view(), HttpResponse("page"))[1])(RequestFactory().get("/")))


def copy_moment(server):
    return StreamCopy.objects.get(server=server).fetched_at


def test_work_put_off_runs_when_the_server_closes_the_answer_and_at_once_outside_a_request():
    done = []
    response = in_a_request(lambda: after_response.defer(lambda: done.append("in a request")))
    assert done == []
    response.close()
    after_response.defer(lambda: done.append("outside"))
    assert done == ["in a request", "outside"]


def test_work_put_off_that_fails_is_logged_and_the_rest_still_runs(caplog):
    done = []

    def view():
        after_response.defer(lambda: 1 / 0)
        after_response.defer(lambda: done.append("second"))

    in_a_request(view).close()

    assert done == ["second"]
    assert "Work put off until after the answer failed" in caplog.text


def test_an_answer_that_changes_nothing_is_written_after_the_page_with_its_lock(server_a, postmark):
    before, listings = copy_moment(server_a), []
    response = in_a_request(lambda: listings.append(stream_list(server=server_a)))

    [listing] = listings
    assert timezone.now() - listing.as_of < timedelta(seconds=5), "the page shows the answer's time"
    assert copy_moment(server_a) == before, "not written yet"
    assert cache.get(services._lock_key(server_a)) is not None, "others still wait for this answer"

    response.close()

    assert copy_moment(server_a) == listing.as_of
    assert cache.get(services._lock_key(server_a)) is None


def test_an_answer_that_changes_something_is_taken_in_before_the_page(server_a, postmark):
    postmark.edit_stream("newsletter", name="Weekly digest")  # in Postmark's own pages

    response = in_a_request(lambda: stream_list(server=server_a))

    assert timezone.now() - copy_moment(server_a) < timedelta(seconds=5)
    assert AuditEvent.objects.filter(action="stream.outside.edit").count() == 1
    assert cache.get(services._lock_key(server_a)) is None
    response.close()
    assert AuditEvent.objects.filter(action="stream.outside.edit").count() == 1


def test_a_second_read_in_the_same_request_writes_the_put_off_answer_first_and_does_not_wait_for_itself(
    server_a, postmark, caplog, settings
):
    settings.STREAMS_FRESH_SECONDS = 0  # the second read asks Postmark again, taking the same lock
    reads = []

    def view():
        reads.append(stream_list(server=server_a))
        reads.append(stream_read(server=server_a, stream_id="newsletter"))

    started = timezone.now()
    in_a_request(view).close()

    assert timezone.now() - started < timedelta(seconds=2), "no wait on its own lock"
    assert reads[1].trouble is None and reads[1].stream.name == "Monthly newsletter"
    assert caplog.text.count("Postmark GET /message-streams ->") == 2


def test_a_stream_found_by_a_later_get_in_the_same_request_is_not_taken_for_a_deletion(server_a, postmark):
    postmark.create_stream(id="receipts", name="Receipts", stream_type="Transactional")
    listing = [stream for stream in PostmarkClient(TOKEN_A, base_url=SANDBOX_URL).list_streams(include_archived=True)
               if stream.id != "receipts"]

    def view():
        # The list as Postmark gave it a moment before the stream was made, then a get that finds the new stream.
        services._fetched_many([(server_a, listing, timezone.now())], last_known.load_many([server_a]))
        services.stream_get(server=server_a, stream_id="receipts")

    in_a_request(view).close()

    assert list(AuditEvent.objects.filter(action__startswith="stream.outside").values_list("action", flat=True)) == [
        "stream.outside.create"]
    assert "receipts" in [item["id"] for item in StreamCopy.objects.get(server=server_a).streams]


def sql_of(queries) -> list[str]:
    return [query["sql"].split()[0].upper() for query in queries]


def test_an_unchanged_answer_is_written_down_as_one_update_of_the_copys_moment(server_a, postmark):
    listings = []
    response = in_a_request(lambda: listings.append(stream_list(server=server_a)))

    with CaptureQueriesContext(connection) as queries:
        response.close()

    assert sql_of(queries.captured_queries) == ["UPDATE"], "no transaction reading and rewriting the copy"
    assert copy_moment(server_a) == listings[0].as_of


def test_unchanged_answers_for_several_servers_are_written_down_in_one_update(server_a, server_b, postmark):
    stream_list(server=server_b)
    age_the_copy(server_b)
    response = in_a_request(lambda: services._known_for_each([server_a, server_b], refresh=False))

    with CaptureQueriesContext(connection) as queries:
        response.close()

    assert sql_of(queries.captured_queries) == ["UPDATE"]
    assert copy_moment(server_a) == copy_moment(server_b) > timezone.now() - timedelta(seconds=5)
    assert cache.get(services._lock_key(server_a)) is None and cache.get(services._lock_key(server_b)) is None


def test_a_write_of_ours_between_reading_the_copy_and_writing_the_answer_down_is_kept(server_a, postmark):
    listings = []
    response = in_a_request(lambda: listings.append(stream_list(server=server_a)))
    # Another request changes the stream here, and notes its write in the copy, before this answer is written.
    last_known.take_write(server_a, "newsletter", postmark.edit_stream("newsletter", name="Weekly digest"))

    response.close()

    copy = StreamCopy.objects.get(server=server_a)
    assert {item["id"]: item["name"] for item in copy.streams}["newsletter"] == "Weekly digest"
    assert copy.fetched_at == listings[0].as_of
    assert not AuditEvent.objects.filter(action__startswith="stream.outside").exists()


def test_a_change_a_later_get_found_is_not_undone_by_the_older_list_written_after_the_page(server_a, postmark):
    response = in_a_request(lambda: stream_list(server=server_a))
    # Renamed in Postmark's own pages after that list was answered; another request's get finds it.
    postmark.edit_stream("newsletter", name="Weekly digest")
    services.stream_get(server=server_a, stream_id="newsletter")

    response.close()

    copy = StreamCopy.objects.get(server=server_a)
    assert {item["id"]: item["name"] for item in copy.streams}["newsletter"] == "Weekly digest"
    edits = AuditEvent.objects.filter(action="stream.outside.edit")
    assert [event.changes["name"] for event in edits] == [["Monthly newsletter", "Weekly digest"]], \
        "one entry, for the rename: none taking it back"


def test_of_two_servers_written_down_together_the_one_whose_copy_changed_gets_the_whole_take_in(
    server_a, server_b, postmark
):
    stream_list(server=server_b)
    age_the_copy(server_b)
    known = []
    response = in_a_request(lambda: known.append(services._known_for_each([server_a, server_b], refresh=False)))
    last_known.take_write(server_a, "newsletter", postmark.edit_stream("newsletter", name="Weekly digest"))
    b_streams = StreamCopy.objects.get(server=server_b).streams

    response.close()

    moment = known[0][server_a.pk].as_of
    assert copy_moment(server_a) == copy_moment(server_b) == moment
    assert {item["id"]: item["name"] for item in StreamCopy.objects.get(server=server_a).streams}["newsletter"] == \
        "Weekly digest"
    assert StreamCopy.objects.get(server=server_b).streams == b_streams
    assert not AuditEvent.objects.filter(action__startswith="stream.outside").exists()
