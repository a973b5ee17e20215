"""The reader: pages shared by ``newsarchive serve`` (app.py) and ``newsarchive build-site`` (publish/site.py)."""
