import pytest
from django.contrib import messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.http import HttpResponse
from django.test import RequestFactory
from django_htmx.middleware import HtmxMiddleware

from dashboard.middleware import HtmxMessagesMiddleware


def run(view, *, htmx: bool):
    request = RequestFactory().get("/", headers={"HX-Request": "true"} if htmx else {})
    request.session = {}
    request._messages = FallbackStorage(request)
    middleware = HtmxMiddleware(HtmxMessagesMiddleware(view))
    return request, middleware(request)


def saved_view(status=200, **headers):
    def view(request):
        messages.success(request, "Stream billing-news archived.")
        response = HttpResponse("<table></table>", status=status)
        for name, value in headers.items():
            response[name] = value
        return response

    return view


def test_an_htmx_swap_carries_pending_messages_as_an_announced_out_of_band_toast():
    _, response = run(saved_view(), htmx=True)
    body = response.content.decode()
    assert body.startswith("<table></table>")
    assert 'id="toasts"' in body and 'hx-swap-oob="beforeend"' in body
    assert 'aria-live="polite"' in body
    assert "Stream billing-news archived." in body


def test_a_full_page_leaves_messages_to_the_page_itself():
    request, response = run(saved_view(), htmx=False)
    assert "archived" not in response.content.decode()
    assert len(messages.get_messages(request)) == 1


@pytest.mark.parametrize("status,headers", [(302, {"Location": "/"}), (200, {"HX-Redirect": "/"})])
def test_a_redirect_keeps_messages_for_the_page_it_leads_to(status, headers):
    request, response = run(saved_view(status, **headers), htmx=True)
    assert "archived" not in response.content.decode()
    assert len(messages.get_messages(request)) == 1
