"""The engagement gateway: the process that holds visitors' and agents' sessions."""

__version__ = "0.1.0"
