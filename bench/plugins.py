"""A module found by name in a package: how server kinds and load generators are looked up (one module each)."""
from __future__ import annotations

import importlib
from types import ModuleType


def module_named(package: str, name: str) -> ModuleType | None:
    """``package.name`` imported, or None when the package has no such module; an error inside it still raises."""
    try:
        return importlib.import_module(f"{package}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{package}.{name}":
            raise
        return None
