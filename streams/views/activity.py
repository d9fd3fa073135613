"""What a stream has been doing, as charts: its section on the stream's page and its own address.

The stream's page shows the section at once when the statistics are in the cache; otherwise it shows a
placeholder that htmx fills from `stream_activity_view` after the page has rendered (with JavaScript off, the
placeholder's link opens the same section as a page of its own), so Postmark's Stats API never holds the
stream's page. The period (7, 30 or 90 days) is in the address: `?days=7`.

The lists (a server's streams, the team's home) fetch each server's sparklines the same way, one request per
server after the list has rendered (`server_sparklines_view`), never one per row.
"""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.dateformat import format as format_date
from django.views.decorators.http import require_http_methods

from dashboard.access import team_required
from dashboard.models import Role, Server
from dashboard.postmark.client import Stream
from dashboard.templatetags.dashboard import zone_label
from streams.charts import bar_chart
from streams.services import PostmarkTrouble, StreamGone, stream_read
from streams.services_activity import (
    PERIODS,
    StatsUnavailable,
    StreamActivity,
    bounce_rate_warning,
    period_from,
    server_activity,
    spam_rate_warning,
    stream_activity,
    stream_activity_cached,
)
from streams.views import can_admin, server_of

EASTERN = ZoneInfo("America/New_York")


def count(value: int) -> str:
    return f"{value:,}"


def percent(value: float | None) -> str:
    """`12.4%`, `0.03%`: enough decimals for the spam threshold's tenths of a percent."""
    if value is None:
        return "—"
    if value == 0:
        return "0%"
    return f"{value:.1f}%" if value >= 1 else f"{value:.2f}%"


def day_words(day) -> str:
    return format_date(day, "D j M")


def _charts(activity: StreamActivity) -> dict:
    days = [day.day for day in activity.days]
    return {
        "sent": bar_chart(
            days,
            [day.sent for day in activity.days],
            describe=lambda day, value: f"{day_words(day)}: {count(value)} sent",
            floor=10,
        ),
        "bounces": bar_chart(
            days,
            [day.bounce_rate for day in activity.days],
            threshold=bounce_rate_warning(),
            describe=lambda day, value: f"{day_words(day)}: {percent(value)} bounced",
        ),
        "spam": bar_chart(
            days,
            [day.spam_rate for day in activity.days],
            threshold=spam_rate_warning(),
            describe=lambda day, value: f"{day_words(day)}: {percent(value)} complained",
        ),
    }


def _summaries(activity: StreamActivity) -> dict:
    """Each chart's words for a screen reader: what it shows, in one sentence."""
    busiest = max(activity.days, key=lambda day: day.sent)
    worst_bounce = max(activity.days, key=lambda day: day.bounce_rate or 0)
    worst_spam = max(activity.days, key=lambda day: day.spam_rate or 0)
    period = f"the last {activity.period} days"
    if not activity.sent:
        nothing = f"Nothing was sent in {period}."
        return {"sent": nothing, "bounces": nothing, "spam": nothing}
    return {
        "sent": f"Sent per day over {period}: {count(activity.sent)} in all, the most "
        f"{count(busiest.sent)} on {day_words(busiest.day)}.",
        "bounces": f"Bounce rate per day over {period}: {percent(activity.bounce_rate)} overall, the highest "
        f"{percent(worst_bounce.bounce_rate)} on {day_words(worst_bounce.day)}.",
        "spam": f"Spam complaint rate per day over {period}: {percent(activity.spam_rate)} overall, the highest "
        f"{percent(worst_spam.spam_rate)} on {day_words(worst_spam.day)}.",
    }


def eastern_day_in_local_time(activity: StreamActivity) -> dict:
    """When Postmark's Eastern day starts for the reader: `06:00 CET`, and whether that is their own midnight."""
    start = datetime.combine(activity.until, time.min, tzinfo=EASTERN)
    local = timezone.localtime(start)
    return {
        "day_starts": f"{format_date(local, 'H:i')} {zone_label(local)}",
        "same_zone": local.utcoffset() == start.utcoffset(),
    }


def _rows(activity: StreamActivity) -> list[dict]:
    return [
        {
            "day": day.day,
            "sent": count(day.sent),
            "bounced": count(day.bounced),
            "bounce_rate": percent(day.bounce_rate),
            "spam": count(day.spam_complaints),
            "spam_rate": percent(day.spam_rate),
            "today": day.day == activity.until,
        }
        for day in activity.days
    ]


def _shown(activity: StreamActivity) -> dict:
    health = activity.health
    return {
        "activity": activity,
        "charts": _charts(activity),
        "summaries": _summaries(activity),
        "rows": _rows(activity),
        "health": health,
        **eastern_day_in_local_time(activity),
        "totals": {
            "sent": count(activity.sent),
            "bounced": count(activity.bounced),
            "bounce_rate": percent(activity.bounce_rate),
            "spam": count(activity.spam_complaints),
            "spam_rate": percent(activity.spam_rate),
        },
        "bounce_threshold": f"{health.bounce_threshold:g}%",
        "spam_threshold": f"{health.spam_threshold:g}%",
    }


def _periods(request: HttpRequest, server: Server, stream_id: str, days: int, *, embedded: bool) -> list[dict]:
    """The 7/30/90 choice: on the stream's page its links keep the page's address; on its own page, that one."""
    args = [request.team.slug, server.pk, stream_id]
    detail, own = reverse("stream_detail", args=args), reverse("stream_activity", args=args)
    return [
        {
            "days": option,
            "current": option == days,
            "fetch": f"{own}?days={option}",
            "href": f"{detail}?days={option}#activity" if embedded else f"{own}?days={option}",
            "push": f"{detail}?days={option}",
        }
        for option in PERIODS
    ]


def activity_context(
    request: HttpRequest, server: Server, stream: Stream, *, days: int, embedded: bool, ask: bool, refresh: bool = False
) -> dict:
    """What `streams/activity.html#activity` needs. `ask=False` uses the cache only (a placeholder if empty)."""
    own = reverse("stream_activity", args=[request.team.slug, server.pk, stream.id])
    context = {
        "activity_days": days,
        "activity_embedded": embedded,
        "activity_url": f"{own}?days={days}",
        "activity_refresh_url": f"{own}?days={days}&refresh=1",
        "periods": _periods(request, server, stream.id, days, embedded=embedded),
        "activity_stream": stream,
        "can_admin": can_admin(request),
        "trouble_server": server,
    }
    if stream.stream_type.value == "Inbound":
        return {**context, "activity_inbound": True}
    try:
        if ask:
            activity = stream_activity(server=server, stream_id=stream.id, days=days, refresh=refresh)
        else:
            activity = stream_activity_cached(server=server, stream_id=stream.id, days=days)
    except PostmarkTrouble as trouble:
        return {**context, "activity_trouble": trouble}
    except (StatsUnavailable, StreamGone) as refused:
        return {**context, "activity_unavailable": refused.message}
    if activity is None:
        return {**context, "activity_placeholder": True}
    return {**context, **_shown(activity)}


@team_required(role=Role.VIEWER)
@require_http_methods(["GET"])
def stream_activity_view(request: HttpRequest, server_id, stream_id: str) -> HttpResponse:
    server = server_of(request, server_id)
    days = period_from(request.GET.get("days"))
    context = {"server": server, "stream_id": stream_id}
    try:
        stream = stream_read(server=server, stream_id=stream_id).stream
    except StreamGone as gone:
        context.update(activity_gone=gone.message)
    except PostmarkTrouble as trouble:
        context.update(activity_trouble=trouble, trouble_server=server, can_admin=can_admin(request))
    else:
        context.update(
            stream=stream,
            **activity_context(
                request,
                server,
                stream,
                days=days,
                embedded=bool(request.htmx),
                ask=True,
                refresh=request.GET.get("refresh") == "1",
            ),
        )
    template = "streams/activity.html#activity" if request.htmx else "streams/activity.html"
    response = render(
        request, template, context, status=404 if "activity_gone" in context and not request.htmx else 200
    )
    patch_vary_headers(response, ("HX-Request",))
    return response


# --- Sparklines on the lists -----------------------------------------------------------------------


def _sparkline(stream: Stream, activity: StreamActivity | None) -> dict:
    if activity is None:
        return {"stream": stream, "activity": None}
    chart = bar_chart(
        [day.day for day in activity.days],
        [day.sent for day in activity.days],
        floor=10,
        describe=lambda day, value: f"{day_words(day)}: {count(value)} sent",
    )
    return {
        "stream": stream,
        "activity": activity,
        "chart": chart,
        "sent": count(activity.sent),
        "warning": not activity.health.healthy,
    }


@team_required(role=Role.VIEWER)
@require_http_methods(["GET"])
def server_sparklines_view(request: HttpRequest, server_id) -> HttpResponse:
    """Each active outbound stream's sends per day of a server, small: fetched by the lists after they render."""
    server = server_of(request, server_id)
    answer = server_activity(server=server)
    context = {
        "server": server,
        "days": answer.days,
        "sparklines": [_sparkline(*pair) for pair in answer.streams],
        "sparklines_trouble": answer.trouble,
        "sparklines_unavailable": answer.unavailable,
    }
    template = "streams/sparklines.html#sparklines" if request.htmx else "streams/sparklines.html"
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response
