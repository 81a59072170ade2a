"""Records and literals, defined once: the channels (channels.py), the records the store
keeps (records.py) and what a channel adapter hands the core (inbound.py)."""
