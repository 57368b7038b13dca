"""The one error type users see: a single line that says what to do."""


class BenchError(Exception):
    """A failure the user can act on; its message is one line that says how."""
