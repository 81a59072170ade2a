"""Password hashes for the agents that tests and benchmarks seed: Argon2id with the
library's cheapest parameters. The gateway checks a password with the parameters its
hash carries, so such an agent logs in for microseconds of CPU, not the 0.3 s a check
against a production hash costs (a run of the tests logged in hundreds of times). The
demo's accounts, and every password set through the gateway, keep the production
parameters."""

from __future__ import annotations

from argon2 import PasswordHasher, profiles

_cheap = PasswordHasher.from_parameters(profiles.CHEAPEST)


def cheap_hash(password: str) -> str:
    return _cheap.hash(password)
