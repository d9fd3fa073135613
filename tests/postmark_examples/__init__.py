"""Postmark's own example answers for the six Message Streams calls, as the project's test data.

Each `<call>.json` is the example response printed in Postmark's API reference for that call
(https://postmarkapp.com/developer/api/message-streams-api), copied with its values, case and nulls
untouched, inconsistencies included: see README.md beside this file. The client must parse every one,
and the sandbox's answers must have the same shape.
"""

import json
from pathlib import Path

FOLDER = Path(__file__).resolve().parent
CALLS = ("list", "get", "create", "edit", "archive", "unarchive")


def example(call: str) -> dict:
    """Postmark's example answer to one call, parsed afresh (tests may change their copy)."""
    return json.loads((FOLDER / f"{call}.json").read_text())
