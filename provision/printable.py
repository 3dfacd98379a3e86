"""Text from a guest made safe to show: no control character reaches the operator's terminal as such.

A guest's output can carry escape sequences (clear the screen, retitle the window, rewrite what was
printed, bidi overrides that reorder a line); each is shown as its escape instead (`\\x1b`, `\\u202e`).
Colours (SGR sequences: apt and pip colour their errors on a terminal) are dropped, as a log viewer
would; newlines and tabs stay; CRLF line ends become plain newlines.
"""

import re
import unicodedata

_COLOUR = re.compile(r"\x1b\[[0-9;]*m")

_SHOWN = {
    c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"
    for c in (
        *range(0x00, 0x20),
        *range(0x7F, 0xA0),
        *(c for c in range(0x200B, 0x2070) if unicodedata.category(chr(c)) == "Cf"),  # bidi, zero-width
        0xFEFF,
    )
    if chr(c) not in "\n\t"
}


def printable(text: str) -> str:
    return _COLOUR.sub("", text.replace("\r\n", "\n")).translate(_SHOWN)
