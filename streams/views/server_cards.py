"""The team overview's server cards, written in Python instead of by a loop in the template.

At 30 servers the card loop ran some 1,500 template lookups and escapes per page, about 5 ms of CPU. Here each card
is one f-string with stdlib `html.escape` on each value (what `{{ }}` does to text), the addresses come from one
reversal per page, and only a card with Postmark trouble renders its banner with the template
(`components/postmark_trouble.html`, so the banner keeps one source). The markup is what `streams/overview.html`
wrote (tests/streams/test_server_cards.py renders the old loop and compares).
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from django.http import HttpRequest
from django.template.loader import get_template
from django.utils.safestring import SafeString

from dashboard.services.servers import TOKEN_UNREADABLE
from streams.services import ServerSummary
from streams.views.rows import server_address

_TOKEN_UNREADABLE = escape(TOKEN_UNREADABLE)
_USUAL_LIMIT = " 10 is Postmark's usual limit per server; Postmark support can raise it."


def server_cards(request: HttpRequest, summaries: Iterable[ServerSummary], *, can_admin: bool) -> SafeString:
    """The `<li>` of each server's card, in the order given, separated by a space."""
    slug = request.team.slug
    # One reversal per page for each kind of link on the cards, not one per card.
    detail_url, streams_url, token_url, sparklines_url = (
        server_address(slug, name) for name in ("server_detail", "stream_list", "server_token", "server_sparklines"))
    return SafeString(" ".join([
        _card(summary, request, can_admin, detail_url, streams_url, token_url, sparklines_url)
        for summary in summaries
    ]))


def _trouble_banner(summary: ServerSummary, request: HttpRequest) -> str:
    # Rare (Postmark failed for this server), so the component's template writes it. The token line below offers
    # the fix, so the banner here only explains what happened: no server to link, and `can_admin` keeps it from
    # telling anyone to ask an admin.
    return get_template("components/postmark_trouble.html").render({
        "request": request, "trouble": summary.trouble, "trouble_server": None, "can_admin": True,
        "stale_as_of": summary.as_of,
    }).strip()


def _card(summary: ServerSummary, request, can_admin, detail_url, streams_url, token_url, sparklines_url) -> str:
    e = escape
    server, listing, trouble = summary.server, summary.streams, summary.trouble
    pk = e(str(server.pk))
    name = e(server.name)
    detail = e(detail_url(server.pk))
    parts = [
        f'<li><article class="card server-card" aria-labelledby="server-{pk}-name" data-server="{pk}"> '
        f'<div class="server-card__head"> <h3 id="server-{pk}-name"><a href="{detail}">{name}</a></h3>'
        + (' <span class="badge">Sandbox</span>' if server.is_sandbox else "") + " </div>"
    ]
    if trouble:
        parts.append(f'<div class="server-card__trouble"> {_trouble_banner(summary, request)} </div>')
    if listing:
        counts, limit, used = listing.counts, server.stream_limit, listing.slots_used
        full = ' <span class="badge badge--warning">No free slots</span>' if not listing.slots_left else ""
        parts.append(
            f'<dl class="server-card__counts"> '
            f'<div><dt>Transactional</dt><dd>{counts.get("transactional", 0)}</dd></div> '
            f'<div><dt>Broadcasts</dt><dd>{counts.get("broadcasts", 0)}</dd></div> '
            f'<div><dt>Inbound</dt><dd>{counts.get("inbound", 0)}</dd></div> '
            f'<div><dt>Archived</dt><dd>{listing.archived_count}</dd></div> </dl> '
            f'<div class="server-card__slots"> <p> <strong>{used} of {limit} stream slots used</strong>{full} </p> '
            f'<meter min="0" max="{limit}" value="{used}" aria-hidden="true"></meter> '
            f'<p class="muted server-card__hint">Archived streams keep their slot until Postmark deletes them.'
            f'{_USUAL_LIMIT if limit == 10 else ""}</p> </div>'
        )
    if server.postmark_server_id:
        server_id = f'<span class="mono">{e(str(server.postmark_server_id))}</span>'
    else:
        server_id = '<span class="muted">Not known</span>'
    token = f'<span class="mono">{e(server.masked_token)}</span>'
    # The overview already tried the token: no second decryption just to say it can't be read.
    if trouble is not None and trouble.kind == "token_unreadable":
        token += f' <span class="badge badge--danger">{_TOKEN_UNREADABLE}</span> ' + (
            f'<a href="{e(token_url(server.pk))}">Re-enter the token</a>' if can_admin
            else '<span class="muted">Ask an admin to re-enter it.</span>')
    elif server.token_rejected_at:
        token += ' <span class="badge badge--danger">Token rejected</span> ' + (
            f'<a href="{e(token_url(server.pk))}">Replace the token</a>' if can_admin
            else '<span class="muted">Postmark no longer accepts it: ask an admin to replace it.</span>')
    parts.append(f'<dl class="details server-card__facts"> <dt>Postmark server ID</dt> <dd>{server_id}</dd> '
                 f'<dt>Token</dt> <dd> {token} </dd> </dl>')
    if listing and not trouble:  # what streams/_sparklines_hook.html writes, its address built here
        sparklines = e(sparklines_url(server.pk))
        parts.append(f'<div class="sparklines sparklines--waiting" hx-get="{sparklines}" hx-trigger="load" '
                     f'hx-swap="outerHTML"><a href="{sparklines}">Sent per day by each stream of {name}</a></div>')
    parts.append(f'<div class="actions"> <a class="button button--primary" href="{e(streams_url(server.pk))}">See its '
                 f'streams</a> <a class="button button--quiet" href="{detail}">Server settings</a> </div> '
                 '</article></li>')
    return " ".join(parts)
