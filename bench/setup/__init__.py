"""inv setup: PyPy, Twisted and weighttp from pinned tarballs, plus Nginx, wrk and h2load."""
from .provision import format_manifest, parse_only, setup_host, tool_names

__all__ = ["format_manifest", "parse_only", "setup_host", "tool_names"]
