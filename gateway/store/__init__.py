"""The store: the interface in base.py, SQLite and PostgreSQL beside it."""
