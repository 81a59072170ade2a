"""The visitor's browser code: the loader script, the iframe chat app and their shared modules (static files only)."""
