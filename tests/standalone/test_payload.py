"""The bytes every server serves."""
import pytest

from bench.standalone.payload import MAX_PAYLOAD, payload_bytes


@pytest.mark.parametrize("size", [1, 2, 18, 26, 27, 28, 40, 41, 10_000, 1_000_003, MAX_PAYLOAD])
def test_payload_is_exact_printable_and_deterministic(size):
    body = payload_bytes(size)
    assert len(body) == size
    assert body.endswith(b"\n")
    assert body == payload_bytes(size)
    assert body[:-1].translate(None, bytes(range(32, 127))) == b""  # printable ASCII only
    if size > 1:
        assert body.startswith(b"<html>Hello, world!"[: size - 1])
    if size >= 27:
        assert body.startswith(b"<html>Hello, world!") and body.endswith(b"</html>\n")


@pytest.mark.parametrize("size", [0, -1, MAX_PAYLOAD + 1])
def test_payload_out_of_range_says_what_to_pick(size):
    with pytest.raises(ValueError, match=f"pick 1 to {MAX_PAYLOAD} bytes"):
        payload_bytes(size)
