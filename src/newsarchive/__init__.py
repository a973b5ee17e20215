"""newsarchive: a durable, searchable archive of news feeds in the duty-machine/news format."""

__version__ = "0.1.0"
