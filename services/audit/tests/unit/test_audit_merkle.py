"""The Merkle tree: the O(log n) accumulator agrees with RFC 6962's recursive definition, and every
inclusion proof leads to the root while a wrong leaf, index or path does not."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from warden_audit.domain.merkle import (
    EMPTY_ROOT,
    MerkleAccumulator,
    inclusion_proof,
    leaf_hash,
    root_from_proof,
    root_of,
)


def hashes(n: int) -> list[str]:
    return [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)]


def rfc6962_root(items: list[str]) -> bytes:
    """MTH from RFC 6962 section 2.1, written independently of the module."""
    if len(items) == 1:
        return hashlib.sha256(b"\x00" + bytes.fromhex(items[0])).digest()
    k = 1
    while k * 2 < len(items):
        k *= 2
    return hashlib.sha256(b"\x01" + rfc6962_root(items[:k]) + rfc6962_root(items[k:])).digest()


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 33])
def test_accumulator_matches_the_rfc_definition(n: int) -> None:
    acc = MerkleAccumulator()
    for h in hashes(n):
        acc.add(h)
    assert acc.size == n
    assert acc.root() == rfc6962_root(hashes(n)).hex() == root_of([leaf_hash(h) for h in hashes(n)]).hex()


def test_empty_tree_root_is_the_hash_of_nothing() -> None:
    assert MerkleAccumulator().root() == EMPTY_ROOT == hashlib.sha256(b"").hexdigest()


@given(st.integers(min_value=1, max_value=70), st.data())
def test_every_proof_leads_to_the_root(n: int, data: st.DataObject) -> None:
    items = hashes(n)
    leaves = [leaf_hash(h) for h in items]
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    proof = inclusion_proof(leaves, index)
    assert root_from_proof(items[index], index, n, proof) == rfc6962_root(items).hex()


def test_a_proof_does_not_fit_another_leaf_index_or_sibling() -> None:
    items = hashes(13)
    leaves = [leaf_hash(h) for h in items]
    root = root_of(leaves).hex()
    proof = inclusion_proof(leaves, 5)
    assert root_from_proof(items[5], 5, 13, proof) == root
    assert root_from_proof(items[6], 5, 13, proof) != root
    assert root_from_proof(items[5], 4, 13, proof) != root
    forged = [*proof[:-1], "00" * 32]
    assert root_from_proof(items[5], 5, 13, forged) != root


def test_proof_of_the_wrong_length_is_refused() -> None:
    items = hashes(8)
    proof = inclusion_proof([leaf_hash(h) for h in items], 2)
    with pytest.raises(ValueError, match="shorter"):
        root_from_proof(items[2], 2, 8, proof[:-1])
    with pytest.raises(ValueError, match="longer"):
        root_from_proof(items[2], 2, 8, [*proof, proof[0]])
    with pytest.raises(ValueError, match="outside"):
        root_from_proof(items[2], 8, 8, proof)
