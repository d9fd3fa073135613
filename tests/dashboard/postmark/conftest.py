"""Postmark fixtures: a fresh in-process sandbox per test, a server token it knows, raw HTTP to it."""

import httpx
import pytest

# Made up: the sandbox must never see a real token.
SANDBOX_TOKEN = "5a4db0c5-0000-4000-8000-not-a-real-token"


@pytest.fixture
def sandbox_token(sandbox):
    """A token whose server (three default streams) exists in `sandbox`."""
    sandbox.add_server(SANDBOX_TOKEN, name="Test server")
    return SANDBOX_TOKEN


@pytest.fixture
def sandbox_http(sandbox):
    """Raw HTTP to the sandbox, in process: no socket, no token header set."""
    with httpx.Client(base_url="http://sandbox.test", transport=httpx.WSGITransport(app=sandbox)) as client:
        yield client
