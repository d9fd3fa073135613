"""A browser's user-agent string in a few words, for the audit log: "Chrome 131 on Linux".

Hand-written for the browsers and systems people use day to day; anything else reads as the program's own
name ("curl 8.4") or "an unknown browser". The full string is always kept and shown in an entry's details;
this only summarises it, and never decides anything from it.
"""

import re

# Most specific first: Edge, Opera and Samsung Internet also say "Chrome", Chrome also says "Safari".
_BROWSERS = [
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/(\d+)")),
    ("Opera", re.compile(r"\bOPR/(\d+)")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/(\d+)")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/(\d+)")),
    ("Chrome", re.compile(r"\b(?:Chrome|CriOS)/(\d+)")),
    ("Safari", re.compile(r"\bVersion/(\d+)(?:\.\d+)*(?: Mobile/\S+)? Safari/")),
]
_SYSTEMS = [
    ("iPhone", re.compile(r"\biPhone\b")),
    ("iPad", re.compile(r"\biPad\b")),
    ("Android", re.compile(r"\bAndroid\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("macOS", re.compile(r"\bMac OS X\b|\bMacintosh\b")),
    ("Linux", re.compile(r"\bLinux\b")),
]
_PROGRAM = re.compile(r"^([A-Za-z][\w.-]{0,40})/(\d+(?:\.\d+)?)")


def browser_summary(user_agent: str | None) -> str:
    """`Chrome 131 on Linux`, `Safari 17 on iPhone`, `curl 8.4`, or `an unknown browser`."""
    text = (user_agent or "").strip()
    if not text:
        return "an unknown browser"
    system = next((name for name, pattern in _SYSTEMS if pattern.search(text)), "")
    for name, pattern in _BROWSERS:
        found = pattern.search(text)
        if found:
            return f"{name} {found.group(1)}" + (f" on {system}" if system else "")
    program = _PROGRAM.match(text)
    if program and program.group(1) != "Mozilla":
        return f"{program.group(1)} {program.group(2)}"
    return f"a browser on {system}" if system else "an unknown browser"
