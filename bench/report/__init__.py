"""inv report and inv compare: markdown and charts rendered from a run folder alone."""
