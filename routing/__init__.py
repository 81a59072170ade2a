"""The router: pure, synchronous, no I/O."""
