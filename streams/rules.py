"""Postmark's rules for a stream's fields, checked here before Postmark is asked, in the same words.

Each check answers None when the value is fine, or the sentence a person sees on the field: the same
sentence `streams.services.REFUSALS` has for Postmark's own refusal (one source of words), sometimes
after a friendlier line saying exactly what is wrong with this value. `suggest_id` turns a name into
an ID that follows the rules. Pure functions: no database, no Postmark, no request.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection

from dashboard.postmark.client import ErrorCode
from streams.services import REFUSALS

ID_FORMAT = re.compile(r"[a-z][a-z0-9_-]{0,29}")
ID_MAX = 30
NAME_MAX = 100
DESCRIPTION_MAX = 1000
NEW_STREAM_TYPES = ("Transactional", "Broadcasts")
BROADCASTS_HANDLING = ("Postmark", "Custom")
RESERVED_IDS = ("all",)
POSTMARK_PREFIX = "pm-"


def says(code: ErrorCode) -> str:
    """What a person reads when this rule is broken (Postmark's refusal, in plain words)."""
    return REFUSALS[code][1]


def _quoted(characters: list[str]) -> str:
    shown = ["a space" if c == " " else f"“{c}”" for c in characters]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def _what_is_wrong_with_id(stream_id: str) -> list[str]:
    """Friendly lines naming this ID's own mistakes, before the rule itself."""
    lines = []
    if stream_id != stream_id.lower():
        lines.append(f"Use lowercase letters: “{stream_id}” has capitals.")
    if not ("a" <= stream_id[0].lower() <= "z"):
        lines.append(f"“{stream_id}” starts with “{stream_id[0]}”, not a letter.")
    wrong = sorted({c for c in stream_id.lower() if not re.fullmatch(r"[a-z0-9_-]", c)}, key=stream_id.lower().index)
    if wrong:
        hint = " Put “-” between words." if " " in wrong else ""
        lines.append(f"It can't contain {_quoted(wrong)}.{hint}")
    if len(stream_id) > ID_MAX:
        lines.append(f"It is {len(stream_id)} characters long.")
    return lines


def stream_id_problem(stream_id: str | None, *, taken: Collection[str] | None = None) -> str | None:
    """A new stream's ID; `taken` are the IDs already on the server (archived too), None when unknown."""
    stream_id = (stream_id or "").strip()
    if not stream_id:
        return says(ErrorCode.ID_REQUIRED)
    if stream_id.lower() in RESERVED_IDS:
        return says(ErrorCode.ID_RESERVED)
    if stream_id.lower().startswith(POSTMARK_PREFIX):
        return says(ErrorCode.ID_HAS_PM_PREFIX)
    if not ID_FORMAT.fullmatch(stream_id):
        return " ".join([*_what_is_wrong_with_id(stream_id), says(ErrorCode.INVALID_ID)])
    if taken is not None and stream_id in taken:
        return says(ErrorCode.ID_ALREADY_EXISTS)
    return None


def name_problem(name: str | None) -> str | None:
    name = (name or "").strip()
    if not name:
        return says(ErrorCode.NAME_REQUIRED)
    if len(name) > NAME_MAX:
        return f"{says(ErrorCode.NAME_TOO_LONG)} This one has {len(name)}."
    return None


def description_problem(description: str | None) -> str | None:
    description = description or ""
    if len(description) > DESCRIPTION_MAX:
        return f"{says(ErrorCode.DESCRIPTION_TOO_LONG)} This one has {len(description)}."
    if "<" in description or ">" in description:
        return says(ErrorCode.DESCRIPTION_HAS_HTML)
    return None


def new_stream_type(value: str | None) -> str | None:
    """Postmark's spelling of a type a new stream may have ("broadcasts" -> "Broadcasts"), or None."""
    wanted = (value or "").strip().lower()
    return next((known for known in NEW_STREAM_TYPES if known.lower() == wanted), None)


def stream_type_problem(value: str | None) -> str | None:
    if (value or "").strip().lower() == "inbound":
        return says(ErrorCode.ONLY_ONE_INBOUND_STREAM)
    if new_stream_type(value) is None:
        return says(ErrorCode.INVALID_STREAM_TYPE)
    return None


def handling_problem(handling: str | None, stream_type: str | None) -> str | None:
    """Unsubscribe handling for a stream of `stream_type`: Broadcasts Postmark or Custom, the others None.

    A blank handling is fine: the stream gets its type's default (Postmark for Broadcasts, None otherwise).
    """
    handling = (handling or "").strip().lower()
    if not handling or not stream_type:
        return None
    if stream_type.strip().lower() == "broadcasts":
        if handling in (choice.lower() for choice in BROADCASTS_HANDLING):
            return None
        not_supported = says(ErrorCode.UNSUBSCRIBE_HANDLING_NOT_SUPPORTED)
        return f"Choose Postmark or Custom for a Broadcasts stream. {not_supported}"
    return None if handling == "none" else says(ErrorCode.UNSUBSCRIBE_HANDLING_NOT_SUPPORTED)


def default_handling(stream_type: str) -> str:
    return "Postmark" if stream_type.lower() == "broadcasts" else "None"


def slots_problem(slots_used: int | None, stream_limit: int) -> str | None:
    """Whether the server has room for one more stream (archived streams hold a slot until Postmark deletes them)."""
    if slots_used is not None and slots_used >= stream_limit:
        return says(ErrorCode.STREAM_LIMIT_REACHED)
    return None


# --- Suggesting an ID from a name ----------------------------------------------------------------


def _id_characters(name: str) -> str:
    """Lowercase ASCII letters and digits kept, "_" and "-" kept, spaces and punctuation as "-", the rest dropped."""
    plain = unicodedata.normalize("NFKD", name)
    kept = []
    for character in plain:
        if unicodedata.combining(character):
            continue  # the accent of an "é", whose "e" is kept
        lower = character.lower()
        if re.fullmatch(r"[a-z0-9_-]", lower):
            kept.append(lower)
        elif character.isspace() or unicodedata.category(character).startswith("P"):
            kept.append("-")
    return re.sub(r"-{2,}", "-", "".join(kept))


def _trimmed(candidate: str, length: int) -> str:
    return candidate[:length].rstrip("-_")


def suggest_id(name: str | None, taken: Collection[str] = ()) -> str:
    """An ID that follows Postmark's rules, made from the name ("Billing News" -> "billing-news").

    "" when the name gives nothing to go on. A taken or reserved ID gets "-2", "-3"... to stay unique.
    """
    if not (name or "").strip():
        return ""
    base = _id_characters(name)
    base = re.sub(r"^[^a-z]+", "", base)          # an ID starts with a letter
    while base.startswith(POSTMARK_PREFIX):        # kept for Postmark's own streams
        base = re.sub(r"^[^a-z]+", "", base[len(POSTMARK_PREFIX):])
    base = _trimmed(base, ID_MAX) or "stream"
    unavailable = set(taken) | set(RESERVED_IDS)
    candidate, number = base, 1
    while candidate in unavailable:
        number += 1
        suffix = f"-{number}"
        candidate = _trimmed(base, ID_MAX - len(suffix)) + suffix
    return candidate
