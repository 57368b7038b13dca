"""Text from hosts, logs and files made safe to print on a terminal."""
from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, and C1 controls (0x9b is a one-byte CSI to some terminals):
# what could move the cursor, recolour, retitle or reprogram the terminal that shows the text.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with each control character shown as its escape (``\\x1b``), so it prints as itself;
    newlines and tabs stay."""
    return _CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", text)
