"""Stage 5, store: the archive on disk (duty-machine files) and its lock and atomic writes."""
