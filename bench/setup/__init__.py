"""inv setup: PyPy, Twisted and weighttp from pinned tarballs, plus Nginx and wrk."""
from .provision import TOOLS, format_manifest, parse_only, setup_host

__all__ = ["TOOLS", "format_manifest", "parse_only", "setup_host"]
