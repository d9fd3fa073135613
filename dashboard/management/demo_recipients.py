"""The demo's suppressions and bounces on Acme's sandbox servers, so "Why didn't this person get our e-mail?"
and each stream's suppressions page show something real. Only the sandbox is touched, through its seeding
functions; a server that is not one of Acme's gets nothing.

The known address is `jamie.rivera@example.com` (named in the README): hard-bounced on Acme Production's
receipts, a spam complaint on its product news, unsubscribed from its digest, and suppressed by hand on
Acme Staging.
"""

from typing import Any

from dashboard.postmark import sandbox_suppressions

KNOWN_ADDRESS = "jamie.rivera@example.com"
FIRST_NAMES = ("alex", "sam", "chris", "robin", "kim", "lee", "morgan", "taylor", "jordan", "casey", "drew", "jesse")
DOMAINS = ("example.com", "example.org", "example.net")
# (stream, reason, origin) for a few dozen made-up addresses on each server; every kind Postmark has.
KINDS = {
    "Acme Production": (
        ("billing-receipts", "HardBounce", "Recipient"),
        ("password-resets", "HardBounce", "Recipient"),
        ("product-news", "SpamComplaint", "Recipient"),
        ("weekly-digest", "ManualSuppression", "Recipient"),
        ("product-news", "ManualSuppression", "Recipient"),
        ("outbound", "ManualSuppression", "Customer"),
        ("billing-receipts", "ManualSuppression", "Admin"),
    ),
    "Acme Staging": (
        ("qa-receipts", "HardBounce", "Recipient"),
        ("newsletter-preview", "SpamComplaint", "Recipient"),
        ("newsletter-preview", "ManualSuppression", "Recipient"),
        ("qa-receipts", "ManualSuppression", "Customer"),
    ),
}
PER_KIND = {"Acme Production": 5, "Acme Staging": 3}


def seed_recipients(local: Any, token: str, server_name: str) -> int:
    """Suppressions and bounces on one of Acme's sandbox servers; how many suppressions were made."""
    kinds = KINDS.get(server_name)
    if kinds is None:
        return 0
    made = 0
    for kind_number, (stream, reason, origin) in enumerate(kinds):
        for person in range(PER_KIND[server_name]):
            name = FIRST_NAMES[(kind_number * 5 + person) % len(FIRST_NAMES)]
            email = f"{name}.{kind_number}{person}@{DOMAINS[person % len(DOMAINS)]}"
            if reason in ("HardBounce", "SpamComplaint"):  # a bounce behind it, as in Postmark
                sandbox_suppressions.add_bounce(local, token, stream=stream, email=email, type=reason, tag="demo")
            else:
                sandbox_suppressions.add_suppression(local, token, stream=stream, email=email, reason=reason,
                                                     origin=origin)
            made += 1
    if server_name == "Acme Production":
        add_bounce, add_suppression = sandbox_suppressions.add_bounce, sandbox_suppressions.add_suppression
        add_bounce(local, token, stream="billing-receipts", email=KNOWN_ADDRESS, type="HardBounce", tag="receipt")
        add_bounce(local, token, stream="product-news", email=KNOWN_ADDRESS, type="SpamComplaint", tag="news")
        add_bounce(local, token, stream="password-resets", email=KNOWN_ADDRESS, type="SoftBounce", tag="reset")
        add_suppression(local, token, stream="weekly-digest", email=KNOWN_ADDRESS, reason="ManualSuppression",
                        origin="Recipient")
        made += 3
    else:
        sandbox_suppressions.add_suppression(local, token, stream="qa-receipts", email=KNOWN_ADDRESS,
                                             reason="ManualSuppression", origin="Customer")
        sandbox_suppressions.add_bounce(local, token, stream="qa-receipts", email=KNOWN_ADDRESS, type="Transient")
        made += 1
    return made
