"""The IANA time zones a person may choose, and the one a request is shown in.

A person's chosen zone wins; without one, the zone their browser reported in the `tz` cookie (set by
static/js/app.js); without that, UTC. Every name is checked against the system's zone database.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from datetime import UTC, datetime
from functools import cache
from urllib.parse import unquote

from django.http import HttpRequest

COOKIE_NAME = "tz"
DEFAULT_ZONE = "UTC"
# Names in the zone database that are not places a person lives in.
_NOT_ZONES = {"localtime", "Factory", "posixrules", "posix", "right"}
# The regions the choice list shows; older aliases (US/Eastern, Etc/GMT+3) stay valid but unlisted.
_REGIONS = ("Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian",
            "Pacific")


@cache
def known_zones() -> frozenset[str]:
    return frozenset(name for name in zoneinfo.available_timezones()
                     if name not in _NOT_ZONES and not name.startswith(("posix/", "right/")))


def is_known_zone(name: str | None) -> bool:
    return bool(name) and name in known_zones()


@cache
def _listed_zones() -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """(region, ((name, place), ...)) for the regions people pick from, places sorted by name."""
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for name in sorted(known_zones()):
        region, _, place = name.partition("/")
        if region in _REGIONS and place:
            groups[region].append((name, place.replace("_", " ").replace("/", " – ")))
    return tuple((region, tuple(groups[region])) for region in _REGIONS if groups[region])


@cache
def _zone(name: str) -> zoneinfo.ZoneInfo:
    """ZoneInfo keeps only the last few zones it made: the choice list's 600 were read from disk on every page."""
    return zoneinfo.ZoneInfo(name)


def offset_label(name: str, at: datetime | None = None) -> str:
    """The zone's offset from UTC at that moment: "UTC+01:00", "UTC-05:00", "UTC"."""
    offset = (at or datetime.now(UTC)).astimezone(_zone(name) if is_known_zone(name) else zoneinfo.ZoneInfo(name)
                                                  ).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    if not minutes:
        return "UTC"
    hours, minutes = divmod(abs(minutes), 60)
    return f"UTC{'-' if offset.total_seconds() < 0 else '+'}{hours:02d}:{minutes:02d}"


def zone_select_choices(*, also: str = "") -> list:
    """Choices for a select, grouped by region, each place with its offset today ("Berlin (UTC+01:00)").

    `also` adds a known zone the list leaves out (an alias such as "US/Eastern"), so a saved choice shows.
    """
    now = datetime.now(UTC)
    choices: list = [("UTC", "UTC (Coordinated Universal Time)")]
    listed = {"UTC"}
    for region, places in _listed_zones():
        choices.append((region, [(name, f"{place} ({offset_label(name, now)})") for name, place in places]))
        listed.update(name for name, _ in places)
    if also and also not in listed and is_known_zone(also):
        choices.insert(0, (also, f"{also} ({offset_label(also, now)})"))
    return choices


def browser_zone(request: HttpRequest) -> str:
    """The zone the person's browser reported, if it is a real one; else ""."""
    name = unquote(request.COOKIES.get(COOKIE_NAME, "")).strip()
    return name if is_known_zone(name) else ""


def zone_for(request: HttpRequest) -> tuple[str, str]:
    """(zone name, where it came from: "chosen", "browser" or "default") for this request."""
    user = getattr(request, "user", None)
    chosen = getattr(user, "time_zone", "") if user is not None and user.is_authenticated else ""
    if is_known_zone(chosen):
        return chosen, "chosen"
    reported = browser_zone(request)
    if reported:
        return reported, "browser"
    return DEFAULT_ZONE, "default"
