"""Records and literals, defined once."""
