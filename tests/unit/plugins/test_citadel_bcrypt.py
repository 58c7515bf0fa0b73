"""plugins/filter/citadel_bcrypt.py: deterministic, verifiable bcrypt hashes."""

from __future__ import annotations

import bcrypt
import pytest

from tests.conftest import load_module

cb = load_module("plugins/filter/citadel_bcrypt.py", "citadel_bcrypt")


def test_same_inputs_same_hash_and_it_verifies():
    h1 = cb.bcrypt_hash("s3cret", "metrics/prometheus", rounds=4)
    assert h1 == cb.bcrypt_hash("s3cret", "metrics/prometheus", rounds=4)
    assert h1.startswith("$2b$04$")
    assert bcrypt.checkpw(b"s3cret", h1.encode())
    assert not bcrypt.checkpw(b"wrong", h1.encode())


def test_other_seed_or_password_gives_another_salt():
    base = cb.bcrypt_hash("s3cret", "a", rounds=4)
    assert cb.bcrypt_hash("s3cret", "b", rounds=4)[:29] != base[:29]
    assert cb.bcrypt_hash("other", "a", rounds=4)[:29] != base[:29]


def test_salt_is_22_characters_of_bcrypt_base64():
    salt = cb.bcrypt_salt("p", "seed")
    assert len(salt) == 22
    assert set(salt) <= set("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


@pytest.mark.parametrize(("password", "rounds", "message"), [("", 10, "the password is empty"), ("x", 3, "rounds 3")])
def test_bad_input(password, rounds, message):
    with pytest.raises(ValueError, match=message):
        cb.bcrypt_hash(password, "seed", rounds)


def test_users_are_hashed_each_with_its_own_salt():
    hashed = cb.bcrypt_users({"a": "pw", "b": "pw"}, "host/svc", rounds=4)
    assert set(hashed) == {"a", "b"}
    assert hashed["a"][:29] != hashed["b"][:29]
    assert all(bcrypt.checkpw(b"pw", h.encode()) for h in hashed.values())
    assert hashed == cb.bcrypt_users({"a": "pw", "b": "pw"}, "host/svc", rounds=4)


def test_an_empty_password_names_the_user():
    with pytest.raises(ValueError, match="user b: the password is empty"):
        cb.bcrypt_users({"a": "pw", "b": ""}, "seed", rounds=4)
