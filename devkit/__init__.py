"""Development tooling: real servers (PostgreSQL, Redis, the gateway) started from their
binaries for the tests, benchmarks and ``scripts/cluster``, and the gateway's app served
in-process for service-level tests.

Not part of the gateway's wheel: it is imported from a checkout's root, like ``tests``
and ``bench``.
"""
