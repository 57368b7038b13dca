"""The one error type users see: a single line that says what to do."""


class BenchError(Exception):
    """A failure the user can act on; its message is one line that says how."""


class HostLost(BenchError):
    """The connection to a lab host dropped: nothing more can be measured there for now."""
