"""Invoke's configuration as plain data."""
from collections.abc import Mapping


def plain(data):
    """Invoke's config proxies as plain dicts and lists, fit for JSON."""
    if isinstance(data, Mapping) or hasattr(data, "keys"):
        return {str(key): plain(data[key]) for key in data.keys()}
    if isinstance(data, (list, tuple)):
        return [plain(item) for item in data]
    return data
