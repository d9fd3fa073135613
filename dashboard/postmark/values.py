"""What every Postmark API area of the client reads the same way: Postmark's enumerated values.

Postmark writes them in any case (`none`, `None`; `postmark`, `Postmark`), so each area's enums accept any
case. This module imports only the standard library, so every client module can import it first.
"""

import enum
from typing import Any


class CaseInsensitiveEnum(enum.StrEnum):
    """A string enum whose members also match Postmark's value in another case or with spaces around it."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            for member in cls:
                if member.value.lower() == value.strip().lower():
                    return member
        return None
