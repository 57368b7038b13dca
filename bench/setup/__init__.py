"""inv setup: PyPy, Twisted and weighttp from pinned tarballs, plus Nginx, wrk and h2load."""
from .provision import TOOLS, format_manifest, parse_only, setup_host

__all__ = ["TOOLS", "format_manifest", "parse_only", "setup_host"]
