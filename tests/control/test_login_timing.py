"""A console login costs one argon2 verification whether or not the account exists, so the
response time does not tell an attacker which emails have accounts (no timing is measured here:
the test pins that the hasher is called on every path)."""

from __future__ import annotations

from typing import Any

import pytest
from control_world import World

from zdr.control import accounts as accounts_module
from zdr.errors import AuthenticationFailed


class CountingHasher:
    """Wraps the real hasher and records which hashes `verify` was asked to check."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.verified: list[str] = []

    def verify(self, stored: str, password: str) -> bool:
        self.verified.append(stored)
        result: bool = self.real.verify(stored, password)
        return result

    def hash(self, password: str) -> str:
        value: str = self.real.hash(password)
        return value


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    counting = CountingHasher(accounts_module._hasher)
    monkeypatch.setattr(accounts_module, "_hasher", counting)
    return counting


def test_an_unknown_email_is_checked_against_the_dummy_hash(world: World,
                                                            hasher: CountingHasher) -> None:
    with pytest.raises(AuthenticationFailed, match="invalid email or password"):
        world.plane.accounts.check_password("nobody@nowhere.example", "some password 123")
    assert hasher.verified == [accounts_module._dummy_hash()]
    assert hasher.verified[0].startswith("$argon2")


def test_a_disabled_or_password_less_user_costs_the_same_work(world: World,
                                                              hasher: CountingHasher) -> None:
    accounts = world.plane.accounts
    accounts.create_user(world.operator, "nopass@acme.example", None,
                         org_roles={"acme": ["org_member"]})
    with pytest.raises(AuthenticationFailed, match="invalid email or password"):
        accounts.check_password("nopass@acme.example", "")
    assert hasher.verified == [accounts_module._dummy_hash()]


def test_a_real_user_is_checked_against_their_own_hash(world: World,
                                                       hasher: CountingHasher) -> None:
    accounts = world.plane.accounts
    accounts.create_user(world.operator, "erin@acme.example", "a long enough password 1",
                         org_roles={"acme": ["org_member"]})
    with pytest.raises(AuthenticationFailed, match="invalid email or password"):
        accounts.check_password("erin@acme.example", "the wrong password 12")
    assert accounts.check_password("erin@acme.example", "a long enough password 1").email == \
        "erin@acme.example"
    assert len(hasher.verified) == 2
    assert accounts_module._dummy_hash() not in hasher.verified
