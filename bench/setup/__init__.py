"""inv setup: PyPy, Twisted and weighttp from pinned tarballs, plus Nginx and wrk."""
from .provision import format_manifest, parse_only, setup_host, tools_for

__all__ = ["format_manifest", "parse_only", "setup_host", "tools_for"]
