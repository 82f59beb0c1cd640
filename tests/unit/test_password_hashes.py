"""Passwords are hashed by werkzeug's maintained scrypt; hashes written before (hashlib.scrypt, our own format)
still sign their users in, so moving to the maintained primitive locks nobody out (issue 15, item 5)."""
from __future__ import annotations

import base64
import hashlib

from stewardship.accounts import hash_password, verify_password


def test_a_new_hash_is_werkzeugs_scrypt_and_verifies_only_its_password():
    stored = hash_password("correct horse battery")
    assert stored.startswith("scrypt:32768:8:1$")
    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse battery!", stored)


def test_a_hash_in_the_earlier_format_still_verifies():
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(b"old password", salt=salt, dklen=32, n=2**14, r=8, p=1)
    stored = f"scrypt${2**14}$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    assert verify_password("old password", stored)
    assert not verify_password("old passwordx", stored)


def test_a_damaged_hash_is_a_failed_sign_in_not_an_error():
    for stored in ("", "garbage", "scrypt$1$2", "pbkdf2:sha256:1$salt", "scrypt$x$8$1$AA==$AA=="):
        assert not verify_password("anything", stored)
