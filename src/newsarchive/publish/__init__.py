"""Stage 6, publish: the archive to git mirrors (the static site comes with the read-side issue)."""
