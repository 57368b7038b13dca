"""inv tune: the kernel and open-file tuning of a profile under sysconf/.

What the task uses: the profile loader and the four actions with their rendering.
What other areas may use: the profile's variables of interest and how a host
stands against a profile.
"""
from .actions import apply, check, preview, revert, tuning_state
from .outcomes import EXIT_ERROR
from .keys import INTEREST, normalize
from .profile import SYSCONF, load_profile
from .render import exit_code, format_outcome

__all__ = [
    "EXIT_ERROR", "INTEREST", "SYSCONF", "apply", "check", "exit_code", "format_outcome",
    "load_profile", "normalize", "preview", "revert", "tuning_state",
]
