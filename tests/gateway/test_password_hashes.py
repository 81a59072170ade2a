"""The password hashes made once and kept in the source (gateway/auth.py, gateway/demo.py):
they must stay what they stand for when the hasher's parameters or the demo's passwords
change, since nothing else would notice."""

from __future__ import annotations

import pytest

from gateway import auth
from gateway.demo import DEMO_ADMIN, DEMO_AGENT, DEMO_HASHES


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param(auth.NOBODY_HASH, id="nobody"),
        pytest.param(DEMO_HASHES[DEMO_AGENT[1]], id="demo agent"),
        pytest.param(DEMO_HASHES[DEMO_ADMIN[1]], id="demo admin"),
    ],
)
def test_each_made_hash_has_the_hashers_parameters(stored: str) -> None:
    # an unknown email's check must cost what a real one costs; the demo's, what any other
    assert not auth._hasher.check_needs_rehash(stored)


def test_the_demo_hashes_are_of_the_demo_passwords() -> None:
    assert set(DEMO_HASHES) == {DEMO_AGENT[1], DEMO_ADMIN[1]}
    for password, stored in DEMO_HASHES.items():
        assert auth.verify_password(stored, password)
        assert not auth.verify_password(stored, password + "x")


@pytest.mark.parametrize("password", ["", "not a password anyone has", DEMO_AGENT[1], "x" * 200])
def test_nobody_has_the_password_of_the_nobody_hash(password: str) -> None:
    assert not auth.verify_password(auth.NOBODY_HASH, password)


@pytest.mark.parametrize("stored", ["", "not a hash"])
def test_an_account_without_a_usable_hash_costs_a_whole_check(
    stored: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An account made without a password: refused after a check against NOBODY_HASH,
    so that its answer takes what a wrong password's does (before, it came about 100
    times sooner, telling such accounts from unknown emails and real ones)."""
    checked: list[str] = []
    hasher = auth._hasher

    class Counted:
        def verify(self, stored_hash: str, password: str) -> bool:
            checked.append(stored_hash)
            return hasher.verify(stored_hash, password)

    monkeypatch.setattr(auth, "_hasher", Counted())
    assert not auth.verify_password(stored, "a guess")
    assert checked == [stored, auth.NOBODY_HASH]
