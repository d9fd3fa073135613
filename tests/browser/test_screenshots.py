"""Pictures of the main pages, at desktop and phone widths, from the demo's own data.

Each run writes them to var/screenshots/<page>-<width>.png; `make screenshots` runs only this file and copies
the README's pictures from there into docs/screenshots/. Each page is also checked as every other browser
test checks its pages: no console error, no failed request, no serious accessibility finding.
"""

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from dashboard.management.commands.demo_seed import DEMO_PASSWORD
from dashboard.models import Server, Team, User
from tests.browser.conftest import DESKTOP, PHONE, TIME_LEFT

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
WIDTHS = {"desktop": DESKTOP, "phone": PHONE}
USER_AGENTS = {
    "desktop": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "phone": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
             "Mobile Safari/537.36",
}


@pytest.fixture
def password():
    """The demo people's password, for signing in through the form."""
    return DEMO_PASSWORD


@pytest.fixture
def demo(settings, sandbox):
    """The demo's teams, people, servers and streams, as `make demo` seeds them."""
    settings.DEMO = True
    call_command("demo_seed", stdout=io.StringIO(), stderr=io.StringIO())
    team = Team.objects.get(name="Acme")
    return {
        "owner": User.objects.get(email="owner@example.com"),
        "team": team,
        "production": Server.objects.get(team=team, name="Acme Production"),
    }


def shoot(page, name: str, width: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{width}.png"
    # caret="initial": Playwright would otherwise hide the caret with an injected <style>, which the CSP refuses.
    page.screenshot(path=path, caret="initial", animations="disabled")
    return path


@pytest.mark.parametrize("width", WIDTHS)
def test_the_main_pages_are_pictured_at_desktop_and_phone_widths(width, demo, sign_in_page, axe):
    # Signed in through the form, from a browser that names itself as an everyday one does: the audit log
    # pictured shows that sign-in.
    page = sign_in_page(demo["owner"], viewport=WIDTHS[width], user_agent=USER_AGENTS[width])
    team, server = demo["team"].slug, demo["production"].pk
    streams = f"/t/{team}/servers/{server}/streams/"
    taken = []

    page.goto(f"/t/{team}/")
    expect(page.get_by_role("heading", name="Purging soon")).to_be_visible()
    axe(page)
    taken.append(shoot(page, "overview", width))

    page.goto(f"{streams}?archived=1")
    expect(page.locator("tr[data-stream='spring-sale']")).to_contain_text(TIME_LEFT)
    axe(page)
    taken.append(shoot(page, "list", width))

    page.goto(f"{streams}new/")
    page.get_by_label("Name", exact=True).fill("Spring offers")
    expect(page.locator("[data-suggested-id='spring-offers']")).to_be_attached()
    page.get_by_label("ID", exact=True).fill("spring-sale")  # taken by the archived Spring sale stream
    expect(page.locator("#id_stream_id_feedback")).not_to_be_empty()
    axe(page)
    taken.append(shoot(page, "create", width))

    page.goto(f"{streams}product-news/")
    page.get_by_role("link", name="Archive…").click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_be_visible()
    dialog.get_by_role("textbox").fill("product-")
    axe(page)
    taken.append(shoot(page, "archive-dialog", width))

    page.goto(f"{streams}spring-sale/")
    expect(page.get_by_text(TIME_LEFT).first).to_be_visible()
    axe(page)
    taken.append(shoot(page, "detail-archived", width))

    page.goto(f"/t/{team}/audit/")
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    axe(page)
    taken.append(shoot(page, "audit-log", width))

    page.goto(f"/t/{team}/members/")
    expect(page.get_by_role("cell", name="viewer@example.com").first).to_be_visible()
    axe(page)
    taken.append(shoot(page, "members", width))

    page.goto(f"/t/{team}/servers/{server}/")
    expect(page.get_by_role("heading", name="Acme Production")).to_be_visible()
    axe(page)
    taken.append(shoot(page, "server", width))

    assert all(path.stat().st_size > 10_000 for path in taken)
