"""Signing in and moving between teams, in a real browser."""

from playwright.sync_api import expect


def test_a_person_who_mistypes_their_password_is_told_so_and_then_signs_in(open_page, axe, owner, team_a, password):
    page = open_page()
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    axe(page)

    page.get_by_label("E-mail address").fill(owner.email)
    page.get_by_label("Password").fill("not my password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("password")).not_to_have_count(0)
    axe(page)

    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(f"Signed in as {owner.email}")).to_be_visible()
    axe(page)
