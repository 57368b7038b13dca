"""Text from hosts and logs is printed as itself: no control character reaches the terminal."""
import pytest

from bench.terminal import printable


@pytest.mark.parametrize("text, shown", [
    ("plain words, 40B ×2 ±5 % — ok", "plain words, 40B ×2 ±5 % — ok"),
    ("a\tlog\ntail", "a\tlog\ntail"),
    ("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),  # clear the screen, cursor home
    ("\x1b]0;owned\x07", "\\x1b]0;owned\\x07"),  # retitle the window
    ("done\rFAKE ok", "done\\x0dFAKE ok"),  # overwrite the line
    ("\x9b31m", "\\x9b31m"),  # a one-byte CSI
    ("nul\x00 del\x7f bs\x08", "nul\\x00 del\\x7f bs\\x08"),
])
def test_control_characters_print_as_their_escapes(text, shown):
    assert printable(text) == shown
