"""The load generators, one module each (weighttp, wrk, h2load, wrk2), and the registry that reads setup.loadgens."""
from .generator import Capabilities, LoadGenerator, capabilities, detect, load_generator, registry

__all__ = ["Capabilities", "LoadGenerator", "capabilities", "detect", "load_generator", "registry"]
