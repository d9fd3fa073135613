"""Work a request puts off until its answer has been sent (`defer`): the person gets the page sooner, and the work
still runs on the request's own thread, when the server closes the answer (Django's response `close()`, which every
WSGI server calls, after the last byte and also when the visitor went away). Outside a request, in a task or a
command, `defer` runs the work at once. The stream services use it to write down a Postmark answer that changed
nothing, and to let go of the lock that made other requests wait for it.
"""

import logging
from collections.abc import Callable
from contextvars import ContextVar
from functools import partial

from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

_pending: ContextVar[list[Callable[[], None]] | None] = ContextVar("after_response", default=None)


def defer(work: Callable[[], None]) -> None:
    """Run `work` once this request's answer has been sent, or now outside a request."""
    pending = _pending.get()
    if pending is None:
        work()
    else:
        pending.append(work)


def run_pending() -> None:
    """Run now what this request has put off so far: a later step of it needs what that work writes."""
    pending = _pending.get()
    while pending:
        pending.pop(0)()


def _run(pending: list[Callable[[], None]]) -> None:
    while pending:
        work = pending.pop(0)
        try:
            work()
        except Exception:  # the answer is sent: nobody to tell but the log, and the rest still runs
            logger.exception("Work put off until after the answer failed")


class AfterResponseMiddleware:
    """The outermost middleware, so no other can replace the answer its work is attached to."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        pending: list[Callable[[], None]] = []
        token = _pending.set(pending)
        try:
            response = self.get_response(request)
        except BaseException:
            _pending.reset(token)
            _run(pending)
            raise
        _pending.reset(token)
        if pending:
            # Django runs a response's closers when the server closes it, after sending it (its own file answers
            # close their files the same way).
            response._resource_closers.append(partial(_run, pending))
        return response
