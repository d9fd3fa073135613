"""Creating a stream: Postmark's rules checked as the person types and again on submit, in Postmark's words,
the ID suggested from the name, Postmark's own refusals on the right field, roles, the audit, and trouble."""

import html
import re

import pytest
from django.urls import reverse

from dashboard.forms import apply_service_error
from dashboard.models import AuditEvent
from dashboard.postmark.client import SANDBOX_URL, ErrorCode, PostmarkClient
from dashboard.postmark.sandbox import Sandbox, install
from dashboard.services import ServiceError
from dashboard.services.servers import server_connect
from streams import rules
from streams.forms import StreamCreateForm
from streams.services import REFUSALS, stream_create
from tests.conftest import SPARE_TOKEN, TOKEN_A
from tests.csp import csp_violations

pytestmark = pytest.mark.django_db

NEWS = {"name": "News", "stream_id": "news", "description": "Monthly product news", "stream_type": "Broadcasts",
        "unsubscribe_handling": "Postmark"}
HX = {"HTTP_HX_REQUEST": "true"}


def says(code: ErrorCode) -> str:
    return REFUSALS[code][1]


def url(name, team, server) -> str:
    return reverse(name, args=[team.slug, server.pk])


def page(response) -> str:
    return html.unescape(response.content.decode())


def text_of(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def field_errors(response, field: str) -> str:
    found = re.search(rf'<ul class="field__errors" id="id_{field}_errors">(.*?)</ul>', response.content.decode(), re.S)
    return " ".join(html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", found.group(1))) if found else ""


def form_errors(response) -> str:
    found = re.search(r'<div class="alert alert--danger" role="alert">(.*?)</div>', response.content.decode(), re.S)
    return html.unescape(found.group(1)) if found else ""


def messages_on(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def postmark_ids(token=TOKEN_A) -> list[str]:
    return [stream.id for stream in PostmarkClient(token, base_url=SANDBOX_URL).list_streams(include_archived=True)]


def create_events():
    return list(AuditEvent.objects.filter(action="stream.create"))


@pytest.fixture
def browser(client_as, editor):
    return client_as(editor)


@pytest.fixture
def check(browser, team_a, server_a):
    """The check as the person types: an htmx POST of the whole form, `touched` naming the fields they reached."""

    def send(touched="", **fields):
        return browser.post(url("stream_create_check", team_a, server_a), {**fields, "touched": touched}, **HX)

    return send


# --- The rules, in Postmark's words ----------------------------------------------------------------


@pytest.mark.parametrize("stream_id,code", [
    ("", ErrorCode.ID_REQUIRED),
    ("   ", ErrorCode.ID_REQUIRED),
    ("all", ErrorCode.ID_RESERVED),
    ("pm-news", ErrorCode.ID_HAS_PM_PREFIX),
    ("Billing", ErrorCode.INVALID_ID),
    ("2fa-codes", ErrorCode.INVALID_ID),
    ("news letter", ErrorCode.INVALID_ID),
    ("news.letter", ErrorCode.INVALID_ID),
    ("a" * 31, ErrorCode.INVALID_ID),
    ("outbound", ErrorCode.ID_ALREADY_EXISTS),
])
def test_each_id_rule_says_what_postmark_would(stream_id, code):
    assert says(code) in rules.stream_id_problem(stream_id, taken=["outbound", "inbound"])


@pytest.mark.parametrize("stream_id", ["news", "a", "billing_news-2", "a" * 30])
def test_a_good_id_passes(stream_id):
    assert rules.stream_id_problem(stream_id, taken=["outbound"]) is None


@pytest.mark.parametrize("stream_id,explained", [
    ("Billing", "Use lowercase letters: “Billing” has capitals."),
    ("2fa", "“2fa” starts with “2”, not a letter."),
    ("news letter", "It can't contain a space. Put “-” between words."),
    ("news!.", "It can't contain “!” or “.”."),
    ("a" * 34, "It is 34 characters long."),
])
def test_a_wrong_id_says_which_character_is_wrong(stream_id, explained):
    problem = rules.stream_id_problem(stream_id)

    assert problem.startswith(explained)
    assert problem.endswith(says(ErrorCode.INVALID_ID))


def test_the_ids_in_use_are_only_checked_when_known():
    assert rules.stream_id_problem("outbound", taken=None) is None


@pytest.mark.parametrize("check,value,code", [
    (rules.name_problem, "", ErrorCode.NAME_REQUIRED),
    (rules.name_problem, "   ", ErrorCode.NAME_REQUIRED),
    (rules.name_problem, "x" * 101, ErrorCode.NAME_TOO_LONG),
    (rules.description_problem, "x" * 1001, ErrorCode.DESCRIPTION_TOO_LONG),
    (rules.description_problem, "News for <b>customers</b>", ErrorCode.DESCRIPTION_HAS_HTML),
    (rules.description_problem, "a > b", ErrorCode.DESCRIPTION_HAS_HTML),
    (rules.stream_type_problem, "Inbound", ErrorCode.ONLY_ONE_INBOUND_STREAM),
    (rules.stream_type_problem, "Newsletter", ErrorCode.INVALID_STREAM_TYPE),
    (rules.stream_type_problem, "", ErrorCode.INVALID_STREAM_TYPE),
])
def test_each_field_rule_says_what_postmark_would(check, value, code):
    assert says(code) in check(value)


@pytest.mark.parametrize("check,value", [
    (rules.name_problem, "x" * 100), (rules.description_problem, ""), (rules.description_problem, "x" * 1000),
    (rules.stream_type_problem, "Transactional"), (rules.stream_type_problem, "broadcasts"),
])
def test_values_within_the_rules_pass(check, value):
    assert check(value) is None


@pytest.mark.parametrize("handling,stream_type,allowed", [
    ("Postmark", "Broadcasts", True), ("Custom", "Broadcasts", True), ("", "Broadcasts", True),
    ("None", "Broadcasts", False), ("None", "Transactional", True), ("", "Transactional", True),
    ("Postmark", "Transactional", False), ("Custom", "Transactional", False),
])
def test_unsubscribe_handling_follows_the_streams_type(handling, stream_type, allowed):
    problem = rules.handling_problem(handling, stream_type)

    assert (problem is None) is allowed
    if not allowed:
        assert says(ErrorCode.UNSUBSCRIBE_HANDLING_NOT_SUPPORTED) in problem


def test_a_server_with_every_slot_used_has_no_room():
    assert rules.slots_problem(9, 10) is None
    assert rules.slots_problem(10, 10) == says(ErrorCode.STREAM_LIMIT_REACHED)
    assert rules.slots_problem(None, 10) is None


@pytest.mark.parametrize("name,taken,suggested", [
    ("News", [], "news"),
    ("Billing News!", [], "billing-news"),
    ("  Café   Crème  ", [], "cafe-creme"),
    ("Über_cool — things & more", [], "uber_cool-things-more"),
    ("2024 Newsletter", [], "newsletter"),
    ("PM Alerts", [], "alerts"),
    ("All", [], "all-2"),
    ("News", ["news"], "news-2"),
    ("News", ["news", "news-2"], "news-3"),
    ("日本語", [], "stream"),
    ("", [], ""),
    ("A very long stream name that goes on and on", [], "a-very-long-stream-name-that-g"),
    ("A very long stream name that goes on and on", ["a-very-long-stream-name-that-g"],
     "a-very-long-stream-name-that-2"),
])
def test_an_id_is_suggested_from_the_name(name, taken, suggested):
    assert rules.suggest_id(name, taken) == suggested
    if suggested:
        assert rules.stream_id_problem(suggested, taken=taken) is None


# --- The create page -------------------------------------------------------------------------------


def test_the_create_page_shows_the_server_its_free_slots_and_explains_each_field(browser, team_a, server_a):
    response = browser.get(url("stream_create", team_a, server_a))

    text = text_of(response)
    assert response.status_code == 200
    assert "Create a stream on Acme Production" in text
    assert "7 of 10 slots left on Acme Production" in text
    assert ("Used by developers to send on this stream. Lowercase letters, digits, - and _; starts with a letter; "
            "up to 30. It can't be changed later.") in text
    assert "Transactional One-to-one e-mail" in text and "receipts, password resets" in text
    assert "Broadcasts Bulk e-mail to many people at once, such as newsletters" in text
    assert "Postmark Postmark adds an unsubscribe link to each message and stops sending to people who used it." in text
    assert ("Custom You add and handle your own unsubscribe links. Postmark support must turn this on for your "
            "account first.") in text
    assert "None — transactional streams don't have unsubscribe handling." in text
    assert csp_violations(response.content.decode()) == []
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_the_form_posts_without_javascript_and_checks_with_htmx(browser, team_a, server_a):
    content = browser.get(url("stream_create", team_a, server_a)).content.decode()

    create, check = url("stream_create", team_a, server_a), url("stream_create_check", team_a, server_a)
    assert f'<form method="post" action="{create}"' in content and f'hx-post="{create}"' in content
    assert f'hx-post="{check}" hx-trigger="input changed delay:400ms, change delay:400ms"' in content
    assert 'hx-swap="none"' in content  # the check answers only feedback boxes: the input keeps its focus
    assert 'name="touched"' in content


def test_a_server_with_no_free_slot_explains_instead_of_showing_the_form(browser, team_a, server_a):
    server_a.stream_limit = 3
    server_a.save()

    response = browser.get(url("stream_create", team_a, server_a))

    text = text_of(response)
    assert "0 of 3 slots left" in text
    assert "No free stream slots on Acme Production" in text
    assert "Archive a stream you no longer need, and wait for Postmark to delete it" in text
    assert "ask Postmark support to raise this server's limit" in text
    assert "Create stream" not in text


# --- Checking as the person types --------------------------------------------------------------------


CHECKS = [
    # (fields, touched, field with the error, Postmark's code)
    ({"stream_id": ""}, "stream_id", "stream_id", ErrorCode.ID_REQUIRED),
    ({"stream_id": "all"}, "stream_id", "stream_id", ErrorCode.ID_RESERVED),
    ({"stream_id": "pm-news"}, "stream_id", "stream_id", ErrorCode.ID_HAS_PM_PREFIX),
    ({"stream_id": "Billing"}, "stream_id", "stream_id", ErrorCode.INVALID_ID),
    ({"stream_id": "news letter"}, "stream_id", "stream_id", ErrorCode.INVALID_ID),
    ({"stream_id": "x" * 31}, "stream_id", "stream_id", ErrorCode.INVALID_ID),
    ({"stream_id": "outbound"}, "stream_id", "stream_id", ErrorCode.ID_ALREADY_EXISTS),
    ({"name": ""}, "name", "name", ErrorCode.NAME_REQUIRED),
    ({"name": "x" * 101}, "name", "name", ErrorCode.NAME_TOO_LONG),
    ({"description": "x" * 1001}, "description", "description", ErrorCode.DESCRIPTION_TOO_LONG),
    ({"description": "<b>Hi</b>"}, "description", "description", ErrorCode.DESCRIPTION_HAS_HTML),
    ({"stream_type": "Inbound"}, "stream_type", "stream_type", ErrorCode.ONLY_ONE_INBOUND_STREAM),
    ({"stream_type": "Newsletter"}, "stream_type", "stream_type", ErrorCode.INVALID_STREAM_TYPE),
    ({"stream_type": "Transactional", "unsubscribe_handling": "Postmark"}, "stream_type unsubscribe_handling",
     "unsubscribe_handling", ErrorCode.UNSUBSCRIBE_HANDLING_NOT_SUPPORTED),
]


@pytest.mark.parametrize("fields,touched,field,code", CHECKS)
def test_the_check_as_you_type_shows_each_rule_on_its_field(check, fields, touched, field, code):
    response = check(touched=touched, **fields)

    assert response.status_code == 200
    assert says(code) in field_errors(response, field)
    others = {"stream_id", "name", "description", "stream_type", "unsubscribe_handling"} - {field}
    assert all(field_errors(response, other) == "" for other in others)
    assert f'id="id_{field}_feedback" hx-swap-oob="innerHTML"' in response.content.decode()
    assert "<input" not in response.content.decode()  # never an input: the one being typed in keeps its caret
    assert "HX-Request" in response["Vary"]


def test_the_check_says_nothing_about_fields_not_reached_yet(check):
    response = check(touched="", name="", stream_id="", description="", stream_type="")

    for field in ("stream_id", "name", "description", "stream_type", "unsubscribe_handling"):
        assert field_errors(response, field) == ""
    assert form_errors(response) == ""


def test_the_check_speaks_of_a_field_once_it_was_touched(check):
    response = check(touched="name", name="", stream_id="")

    assert field_errors(response, "name") == says(ErrorCode.NAME_REQUIRED)
    assert field_errors(response, "stream_id") == ""


def test_the_check_knows_ids_used_by_archived_streams(check, server_a):
    client = PostmarkClient(TOKEN_A, base_url=SANDBOX_URL)
    client.create_stream(id="old-news", name="Old news", stream_type="Broadcasts")
    client.archive_stream("old-news")

    response = check(touched="stream_id", stream_id="old-news")

    assert field_errors(response, "stream_id") == says(ErrorCode.ID_ALREADY_EXISTS)


def test_the_check_warns_when_the_server_has_no_free_slot(check, server_a):
    server_a.stream_limit = 3
    server_a.save()

    response = check(touched="name", name="News")

    assert says(ErrorCode.STREAM_LIMIT_REACHED) in form_errors(response)
    assert 'id="create-form-errors" hx-swap-oob="innerHTML"' in response.content.decode()


def test_the_check_suggests_an_id_from_the_name_until_one_is_typed(check):
    response = check(touched="name", name="Default Transactional", stream_id="")

    assert 'data-suggested-id="default-transactional"' in response.content.decode()
    assert "Suggested from the name; you can change it." in page(response)


def test_the_suggestion_skips_ids_already_on_the_server(check):
    response = check(touched="name", name="Outbound")

    assert 'data-suggested-id="outbound-2"' in response.content.decode()


def test_the_check_does_not_fill_in_over_an_id_the_person_typed(check):
    fine = check(touched="name stream_id", name="Newsletter", stream_id="monthly")
    wrong = check(touched="name stream_id", name="Newsletter", stream_id="Monthly")

    assert "data-suggested-id" not in fine.content.decode() and "Use it" not in page(fine)
    assert "data-suggested-id" not in wrong.content.decode()
    assert 'data-use-suggested-id="newsletter"' in wrong.content.decode()  # offered, not forced


def test_the_check_changes_nothing_in_postmark(check, server_a):
    check(touched="stream_id name stream_type", **NEWS)

    assert "news" not in postmark_ids()
    assert create_events() == []


def test_the_check_skips_the_ids_in_use_quietly_when_postmark_cant_be_asked(check, sandbox, server_a):
    sandbox.set_faults(status=503)

    response = check(touched="stream_id", stream_id="outbound")

    assert response.status_code == 200
    assert field_errors(response, "stream_id") == ""
    assert "Postmark" not in form_errors(response)


def test_a_plain_post_to_the_check_goes_to_the_create_page(browser, team_a, server_a):
    response = browser.post(url("stream_create_check", team_a, server_a), {"name": "News"})

    assert response.status_code == 302
    assert response["Location"] == url("stream_create", team_a, server_a)


# --- Submitting ------------------------------------------------------------------------------------------


SUBMITS = [
    ({"stream_id": "all"}, "stream_id", ErrorCode.ID_RESERVED),
    ({"stream_id": "pm-news"}, "stream_id", ErrorCode.ID_HAS_PM_PREFIX),
    ({"stream_id": "Billing"}, "stream_id", ErrorCode.INVALID_ID),
    ({"stream_id": "outbound"}, "stream_id", ErrorCode.ID_ALREADY_EXISTS),
    ({"stream_id": "", "name": ""}, "stream_id", ErrorCode.ID_REQUIRED),
    ({"name": ""}, "name", ErrorCode.NAME_REQUIRED),
    ({"name": "x" * 101}, "name", ErrorCode.NAME_TOO_LONG),
    ({"description": "x" * 1001}, "description", ErrorCode.DESCRIPTION_TOO_LONG),
    ({"description": "<script>"}, "description", ErrorCode.DESCRIPTION_HAS_HTML),
    ({"stream_type": "Inbound"}, "stream_type", ErrorCode.ONLY_ONE_INBOUND_STREAM),
    ({"stream_type": ""}, "stream_type", ErrorCode.INVALID_STREAM_TYPE),
    ({"stream_type": "Transactional", "unsubscribe_handling": "Custom"}, "unsubscribe_handling",
     ErrorCode.UNSUBSCRIBE_HANDLING_NOT_SUPPORTED),
]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize("changes,field,code", SUBMITS)
def test_submitting_shows_each_rule_on_its_field_and_creates_nothing(browser, team_a, server_a, changes, field,
                                                                     code, htmx):
    response = browser.post(url("stream_create", team_a, server_a), {**NEWS, **changes}, **(HX if htmx else {}))

    assert response.status_code == 200
    assert says(code) in field_errors(response, field)
    assert ("<html" in response.content.decode()) is not htmx
    assert postmark_ids() == ["outbound", "inbound", "broadcast"]
    [attempt] = create_events()  # refused by the form, and on record with its reason
    assert attempt.outcome == "refused" and says(code) in attempt.detail


def test_submitting_with_every_slot_used_explains_and_creates_nothing(browser, team_a, server_a):
    server_a.stream_limit = 3
    server_a.save()

    response = browser.post(url("stream_create", team_a, server_a), NEWS)

    assert "No free stream slots on Acme Production" in text_of(response)
    assert "news" not in postmark_ids()


def test_an_empty_id_is_suggested_from_the_name_and_nothing_is_created_yet(browser, team_a, server_a):
    response = browser.post(url("stream_create", team_a, server_a), {**NEWS, "stream_id": "", "name": "Outbound"})

    assert response.status_code == 200
    assert "We suggested an ID from the name. Check it, then press Create stream." in text_of(response)
    assert re.search(r'<input type="text" name="stream_id" value="outbound-2"', response.content.decode())
    assert field_errors(response, "stream_id") == ""
    assert postmark_ids() == ["outbound", "inbound", "broadcast"]

    response = browser.post(url("stream_create", team_a, server_a), {**NEWS, "stream_id": "outbound-2",
                                                                     "name": "Outbound"}, follow=True)
    assert "outbound-2" in postmark_ids()


def test_an_editor_creates_a_broadcasts_stream_without_javascript(browser, editor, team_a, server_a):
    response = browser.post(url("stream_create", team_a, server_a), NEWS, follow=True)

    detail = reverse("stream_detail", args=[team_a.slug, server_a.pk, "news"])
    assert response.redirect_chain[-1] == (detail, 302)
    assert "The stream “News” (news) was created on Acme Production." in messages_on(response)
    stream = PostmarkClient(TOKEN_A, base_url=SANDBOX_URL).get_stream("news")
    assert (stream.name, stream.description, stream.stream_type.value, stream.unsubscribe_handling.value) == (
        "News", "Monthly product news", "Broadcasts", "Postmark")
    [event] = create_events()
    assert (event.outcome, event.actor_id, event.target_id) == ("success", editor.pk, f"{server_a.pk}/news")
    assert event.changes == {"name": [None, "News"], "type": [None, "Broadcasts"],
                             "description": [None, "Monthly product news"], "unsubscribe_handling": [None, "Postmark"]}


def test_an_editor_creates_a_stream_with_htmx_and_is_sent_to_its_page(browser, team_a, server_a):
    response = browser.post(url("stream_create", team_a, server_a),
                            {**NEWS, "stream_type": "Transactional", "unsubscribe_handling": ""}, **HX)

    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("stream_detail", args=[team_a.slug, server_a.pk, "news"])
    stream = PostmarkClient(TOKEN_A, base_url=SANDBOX_URL).get_stream("news")
    assert (stream.stream_type.value, stream.unsubscribe_handling.value) == ("Transactional", "None")


def test_a_broadcasts_stream_with_no_handling_chosen_gets_postmarks(browser, team_a, server_a):
    browser.post(url("stream_create", team_a, server_a), {**NEWS, "unsubscribe_handling": ""})

    assert PostmarkClient(TOKEN_A, base_url=SANDBOX_URL).get_stream("news").unsubscribe_handling.value == "Postmark"


def test_a_broadcasts_stream_with_custom_handling_once_postmark_support_allowed_it(browser, team_a, server_a,
                                                                                  sandbox):
    sandbox.grant_custom_unsubscribe(TOKEN_A)

    browser.post(url("stream_create", team_a, server_a), {**NEWS, "unsubscribe_handling": "custom"})

    assert PostmarkClient(TOKEN_A, base_url=SANDBOX_URL).get_stream("news").unsubscribe_handling.value == "Custom"


# --- Postmark's own refusals -----------------------------------------------------------------------------


def test_an_id_taken_in_postmark_after_the_page_opened_is_refused_on_the_id(browser, team_a, server_a):
    browser.get(url("stream_create", team_a, server_a))  # the IDs in use, as the page saw them
    PostmarkClient(TOKEN_A, base_url=SANDBOX_URL).create_stream(id="news", name="Someone else's",
                                                                stream_type="Broadcasts")

    response = browser.post(url("stream_create", team_a, server_a), NEWS)

    assert response.status_code == 200
    assert field_errors(response, "stream_id") == says(ErrorCode.ID_ALREADY_EXISTS)
    assert re.search(r'name="name" value="News"', response.content.decode())
    [event] = create_events()
    assert (event.outcome, event.detail.split(":")[0]) == ("refused", "Postmark code 1230")


def test_custom_handling_postmark_support_has_not_allowed_is_refused_on_its_field(browser, team_a, server_a):
    response = browser.post(url("stream_create", team_a, server_a), {**NEWS, "unsubscribe_handling": "Custom"})

    assert field_errors(response, "unsubscribe_handling") == says(ErrorCode.CUSTOM_UNSUBSCRIBE_NOT_ALLOWED)
    assert "news" not in postmark_ids()
    [event] = create_events()
    assert (event.outcome, event.detail.split(":")[0]) == ("refused", "Postmark code 1238")


def test_a_server_postmark_says_is_full_is_refused_above_the_form(owner, team_a, sandbox, client_as):
    sandbox.add_server(SPARE_TOKEN, name="Small", max_streams=3)
    small = server_connect(actor=owner, team=team_a, name="Small", token=SPARE_TOKEN, sandbox=True)

    response = client_as(owner).post(url("stream_create", team_a, small), NEWS)

    assert response.status_code == 200
    assert form_errors(response).strip() == f"<p>{says(ErrorCode.STREAM_LIMIT_REACHED)}</p>"
    assert "news" not in postmark_ids(SPARE_TOKEN)
    [event] = create_events()
    assert (event.outcome, event.detail.split(":")[0]) == ("refused", "Postmark code 1225")


# The form never lets these through; here Postmark itself refuses them (the service is called directly),
# and each refusal lands on the form field it concerns, in the same words.
REFUSED_BY_POSTMARK = [
    ({"stream_type": "Newsletter"}, ErrorCode.INVALID_STREAM_TYPE),
    ({"stream_id": ""}, ErrorCode.ID_REQUIRED),
    ({"name": ""}, ErrorCode.NAME_REQUIRED),
    ({"name": "x" * 101}, ErrorCode.NAME_TOO_LONG),
    ({"stream_id": "Billing News"}, ErrorCode.INVALID_ID),
    ({"stream_type": "Inbound"}, ErrorCode.ONLY_ONE_INBOUND_STREAM),
    ({"stream_id": "outbound"}, ErrorCode.ID_ALREADY_EXISTS),
    ({"description": "x" * 1001}, ErrorCode.DESCRIPTION_TOO_LONG),
    ({"stream_id": "pm-news"}, ErrorCode.ID_HAS_PM_PREFIX),
    ({"description": "<b>news</b>"}, ErrorCode.DESCRIPTION_HAS_HTML),
    ({"stream_id": "all"}, ErrorCode.ID_RESERVED),
    ({"unsubscribe_handling": "Custom"}, ErrorCode.CUSTOM_UNSUBSCRIBE_NOT_ALLOWED),
    ({"stream_type": "Transactional", "unsubscribe_handling": "Postmark"},
     ErrorCode.UNSUBSCRIBE_HANDLING_NOT_SUPPORTED),
]


@pytest.mark.parametrize("changes,code", REFUSED_BY_POSTMARK)
def test_each_postmark_refusal_of_a_new_stream_lands_on_its_field(editor, team_a, server_a, changes, code):
    with pytest.raises(ServiceError) as refused:
        stream_create(actor=editor, team=team_a, server=server_a, **{**NEWS, **changes})

    field, message = REFUSALS[code]
    assert (refused.value.field, refused.value.message) == (field, message)
    form = StreamCreateForm({**NEWS, **changes}, server=server_a)
    form.is_valid()
    apply_service_error(form, refused.value)
    assert message in (form.errors.get(field) if field else form.non_field_errors())
    [event] = create_events()
    assert (event.outcome, event.detail.split(":")[0]) == ("refused", f"Postmark code {int(code)}")


def test_a_token_pasted_into_the_description_is_stopped_on_the_description(browser, team_a, server_a):
    response = browser.post(url("stream_create", team_a, server_a), {**NEWS, "description": f"Token: {TOKEN_A}"})

    assert "looks like a Postmark server token" in field_errors(response, "description")
    assert TOKEN_A not in response.content.decode()
    assert "news" not in postmark_ids()


# --- Who may create ----------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["editor", "admin", "owner"])
def test_editors_and_up_may_open_the_create_page(persona, cast, client_as, team_a, server_a):
    assert client_as(cast[persona]).get(url("stream_create", team_a, server_a)).status_code == 200


def test_a_viewer_can_neither_open_the_create_page_nor_create_and_the_attempt_is_audited(viewer, client_as, team_a,
                                                                                        server_a):
    browser = client_as(viewer)

    assert browser.get(url("stream_create", team_a, server_a)).status_code == 403
    assert browser.post(url("stream_create", team_a, server_a), NEWS).status_code == 403
    assert browser.post(url("stream_create_check", team_a, server_a), NEWS, **HX).status_code == 403

    assert "news" not in postmark_ids()
    [event] = create_events()
    assert (event.outcome, event.actor_id) == ("denied", viewer.pk)


def test_another_teams_server_is_not_found(outsider, client_as, team_a, server_a):
    browser = client_as(outsider)

    assert browser.get(url("stream_create", team_a, server_a)).status_code == 404
    assert browser.post(url("stream_create", team_a, server_a), NEWS).status_code == 404


def test_a_server_of_another_team_is_not_found_from_ones_own_team(owner, client_as, team_a, server_b, outsider):
    response = client_as(owner).get(reverse("stream_create", args=[team_a.slug, server_b.pk]))

    assert response.status_code == 404


# --- Trouble with Postmark ------------------------------------------------------------------------------


@pytest.mark.parametrize("status,banner", [
    (503, "Postmark isn't answering"),
    (500, "Postmark isn't answering"),
    (502, "Postmark isn't answering"),
    (429, "Postmark asked us to slow down. Wait a few seconds and try again."),
])
def test_the_create_page_stays_usable_when_postmark_is_in_trouble(browser, team_a, server_a, sandbox, status, banner):
    sandbox.set_faults(status=status)

    response = browser.get(url("stream_create", team_a, server_a))

    assert response.status_code == 200
    assert banner in text_of(response)
    assert "Create stream" in text_of(response)


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_creating_while_postmark_is_down_keeps_the_values_and_says_so(browser, team_a, server_a, sandbox, htmx):
    browser.get(url("stream_create", team_a, server_a))
    sandbox.set_faults(status=503)

    response = browser.post(url("stream_create", team_a, server_a), NEWS, **(HX if htmx else {}))

    assert response.status_code == 200
    assert "Postmark isn't answering for Acme Production right now" in text_of(response)
    assert re.search(r'name="stream_id" value="news"', response.content.decode())
    assert re.search(r'name="name" value="News"', response.content.decode())
    sandbox.clear_faults()
    assert "news" not in postmark_ids()
    [event] = create_events()
    assert event.outcome == "failed"


def test_creating_while_postmark_hangs_says_it_may_have_gone_through(browser, team_a, server_a, sandbox, settings):
    settings.POSTMARK_READ_TIMEOUT = 0.3
    browser.get(url("stream_create", team_a, server_a))
    sandbox.set_faults(hang=True)

    response = browser.post(url("stream_create", team_a, server_a), NEWS)

    assert response.status_code == 200
    assert "Postmark stopped answering for Acme Production before saying whether this went through." in (
        text_of(response))
    assert create_events()[0].outcome == "failed"


def test_a_rejected_token_tells_an_editor_to_ask_an_admin(browser, team_a, server_a):
    previous = install(Sandbox())  # a Postmark that no longer knows the server's token
    try:
        response = browser.get(url("stream_create", team_a, server_a))
    finally:
        install(previous)

    assert response.status_code == 200
    assert "Postmark rejected the token of Acme Production" in text_of(response)
    assert "Only admins and owners can replace a token" in text_of(response)


# --- Speed ------------------------------------------------------------------------------------------------


def test_the_create_page_and_its_check_make_a_bounded_number_of_queries(browser, team_a, server_a,
                                                                      django_assert_max_num_queries, check):
    with django_assert_max_num_queries(14):  # the first read of the server also makes its last-known copy
        browser.get(url("stream_create", team_a, server_a))
    with django_assert_max_num_queries(10):
        check(touched="name", name="News")


def test_a_hung_postmark_holds_the_create_form_for_one_read_timeout_not_two(browser, team_a, server_a, sandbox,
                                                                             settings, caplog):
    # The ID check asks Postmark (the copy is stale) and hangs for the whole read timeout: the create call that
    # would come next is not sent, so the page answers after one timeout and nothing is created.
    settings.POSTMARK_READ_TIMEOUT = 0.3
    settings.STREAMS_FRESH_SECONDS = 0
    sandbox.set_faults(hang=True, times=1)

    with caplog.at_level("INFO", logger="dashboard.postmark"):
        response = browser.post(url("stream_create", team_a, server_a), NEWS)

    calls = [record.getMessage() for record in caplog.records if record.getMessage().startswith("Postmark ")]
    sandbox.clear_faults()
    assert response.status_code in (200, 422)
    assert "Postmark isn't answering" in html.unescape(response.content.decode())
    assert "may have gone through" not in html.unescape(response.content.decode()), "it was never sent"
    assert [call.split(" ->")[0] for call in calls] == [
        "Postmark GET /message-streams",
        "Postmark POST /message-streams not sent: the request's time for Postmark ran out",
    ]
    assert "news" not in postmark_ids()
    assert [event.outcome for event in create_events()] == ["failed"]


def test_a_deadline_inside_a_deadline_keeps_the_tighter_one():
    from dashboard.postmark import client

    with client.deadline(5):
        with client.deadline(60):
            assert client._time_left() <= 5
        with client.deadline(1):
            assert client._time_left() <= 1
    assert client._time_left() is None
