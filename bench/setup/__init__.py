"""inv setup: PyPy, Twisted and weighttp from pinned tarballs, plus Nginx and wrk."""
