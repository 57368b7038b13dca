"""inv tune: the kernel and open-file tuning of a profile under sysconf/.

What other areas may use: the profile's variables of interest and how a host
stands against a profile.
"""
from .profile import INTEREST, SYSCONF, load_profile, normalize
from .tuning import tuning_state

__all__ = ["INTEREST", "SYSCONF", "load_profile", "normalize", "tuning_state"]
