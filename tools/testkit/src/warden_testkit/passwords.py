"""Console password hashing at argon2's test profile for the length of a test session.

The console hashes with argon2id's default cost (64 MiB, three passes, four lanes): on a loaded
2-core machine one hash or one sign-in took over a second, and the suite makes hundreds (every
console users file, every `warden up`, every sign-in). `argon2.profiles.CHEAPEST` is the
library's own profile for tests: the same algorithm, code paths and hash format (`$argon2id$`),
verified by the same `PasswordHasher.verify`, at minimum cost. Production keeps the default; a
hash made at any cost verifies, because its parameters travel inside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from warden_console.adapters import local_users


@contextmanager
def cheap_password_hashing() -> Iterator[None]:
    saved = local_users._HASHER, local_users._DUMMY_HASH
    hasher = PasswordHasher.from_parameters(CHEAPEST)
    local_users._HASHER = hasher
    # Unknown users are still checked against a dummy hash of the same cost as a real one.
    local_users._DUMMY_HASH = hasher.hash("not-a-password")
    try:
        yield
    finally:
        local_users._HASHER, local_users._DUMMY_HASH = saved
