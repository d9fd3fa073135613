"""The overview's server cards, written in Python (`streams.views.server_cards`), are the markup the template's
per-card loop wrote (kept in templates_before/server_cards.html): sandbox or not, Postmark trouble of every kind with
and without a last copy, no copy at all, full and raised limits, an unknown Postmark server ID, rejected and
unreadable tokens, for readers who can fix a token and who can't, with names and messages that need escaping."""

import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.utils import timezone

from dashboard.models import Server, Team
from dashboard.services.servers import TOKEN_UNREADABLE
from streams.services import PostmarkTrouble, ServerStreams, ServerSummary
from streams.views.rows import server_address
from streams.views.server_cards import server_cards

PER_CARD_TEMPLATE = (Path(__file__).parent / "templates_before" / "server_cards.html").read_text()
TRICKY = '<b>&"\' Prod'
TEAM = Team(name=f"Acme {TRICKY}", slug="acme")


def server(name="Acme Production", *, sandbox=True, postmark_id=4242, limit=10, rejected=False) -> Server:
    return Server(id=uuid.uuid4(), name=name, is_sandbox=sandbox, postmark_server_id=postmark_id, stream_limit=limit,
                  token_last4="a1b2", token_rejected_at=datetime(2026, 11, 20, 8, 0, tzinfo=UTC) if rejected else None)


def summary(srv: Server, *, used=6, archived=2, counts=None, trouble=None, copy=True, minutes_old=0) -> ServerSummary:
    as_of = timezone.now() - timedelta(minutes=minutes_old, seconds=30) if copy else None
    listing = ServerStreams(
        server=srv, streams=[], counts=Counter(counts if counts is not None else
                                               {"transactional": 2, "broadcasts": 1, "inbound": 1}),
        archived_count=archived, slots_used=used, total=used, as_of=as_of, trouble=trouble) if copy else None
    return ServerSummary(srv, streams=listing, trouble=trouble, as_of=as_of)


def trouble(kind: str, name: str = "Acme Production") -> PostmarkTrouble:
    return PostmarkTrouble(f"Postmark said no about {name} <for> \"reasons\" & more.", kind=kind)


KINDS = ["unavailable", "rate_limited", "token_rejected", "token_unreadable"]


def summaries() -> list[ServerSummary]:
    cards = [
        summary(server()),
        summary(server("Acme Staging", sandbox=False, postmark_id=None)),
        summary(server("Zero ID", postmark_id=0), used=10, archived=3),                # full at the usual limit
        summary(server("Raised", sandbox=False, limit=25), used=25, counts={}),          # full at a raised limit
        summary(server("Raised, room", limit=12), used=3, counts={"broadcasts": 3}),
        summary(server(TRICKY, rejected=True)),                                          # rejected earlier
        summary(server("Big ID", postmark_id=12345678901)),
    ]
    for kind in KINDS:
        rejected = kind == "token_rejected"
        # Postmark failed with a last copy shown (stale), and with none.
        cards.append(summary(server(f"{kind} stale", rejected=rejected), trouble=trouble(kind), minutes_old=7))
        cards.append(summary(server(f"{kind} no copy", sandbox=False, rejected=rejected), trouble=trouble(kind),
                             copy=False))
    cards.append(summary(server(TRICKY, rejected=True), trouble=trouble("token_unreadable", TRICKY), copy=False))
    return cards


def _words_and_tags(html: str) -> str:
    """HTML as a browser reads it: every run of white space is one space."""
    return re.sub(r"\s+", " ", str(html)).strip()


def _as_the_old_view_set_them(cards: list[ServerSummary]) -> None:
    detail_url, streams_url, token_url, sparklines_url = (
        server_address("acme", name) for name in ("server_detail", "stream_list", "server_token", "server_sparklines"))
    for card in cards:
        card.token_unreadable = card.trouble is not None and card.trouble.kind == "token_unreadable"
        pk = card.server.pk
        card.detail_url, card.streams_url, card.token_url = detail_url(pk), streams_url(pk), token_url(pk)
        card.sparklines_url = sparklines_url(pk)


@pytest.mark.parametrize("can_admin", [True, False], ids=["admin", "viewer-or-editor"])
@pytest.mark.parametrize("zone", ["UTC", "Pacific/Auckland"])
def test_the_cards_are_the_markup_the_templates_loop_wrote(can_admin, zone):
    request = RequestFactory().get("/t/acme/", {"refresh": "1", "q": TRICKY})
    request.team = TEAM
    cards = summaries()
    with timezone.override(zone):
        written = server_cards(request, cards, can_admin=can_admin)
        _as_the_old_view_set_them(cards)
        from_template = Template(PER_CARD_TEMPLATE).render(Context({
            "overview": {"servers": cards}, "can_admin": can_admin, "request": request,
            "token_unreadable": TOKEN_UNREADABLE}))

    assert _words_and_tags(written) == _words_and_tags(from_template)
    assert written.count("<li><article ") == len(cards)
    assert "<b>" not in written
    # Every kind of trouble, stale and not, and the hints that depend on the reader.
    assert written.count("data-stale") == len(KINDS)
    assert written.count("Try again") == 4
    assert ("Re-enter the token</a>" in written) is can_admin
    assert ("Ask an admin to re-enter it." in written) is not can_admin


def test_no_servers_write_nothing():
    request = RequestFactory().get("/t/acme/")
    request.team = TEAM
    assert server_cards(request, [], can_admin=True) == ""
