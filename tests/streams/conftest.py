"""Fixtures shared by the stream tests' modules."""

import pytest

from dashboard.postmark import sandbox_suppressions
from tests.conftest import TOKEN_A


@pytest.fixture
def seeded(sandbox, server_a):
    """Acme Production's outbound stream with one suppression of each kind; changes made through the API show at
    once (no delay before Postmark's list shows them)."""
    sandbox_suppressions.configure(sandbox, TOKEN_A, delay_seconds=0)
    add = sandbox_suppressions.add_suppression
    add(sandbox, TOKEN_A, stream="outbound", email="gone@example.com", reason="HardBounce")
    add(sandbox, TOKEN_A, stream="outbound", email="angry@example.com", reason="SpamComplaint")
    add(sandbox, TOKEN_A, stream="outbound", email="bye@example.com", reason="ManualSuppression", origin="Recipient")
    add(sandbox, TOKEN_A, stream="outbound", email="ours@example.com", reason="ManualSuppression")
    add(sandbox, TOKEN_A, stream="outbound", email="staff@example.com", reason="ManualSuppression", origin="Admin")
    return server_a
