"""A Merkle tree over record hashes, as in RFC 6962 (Certificate Transparency).

Leaves are the records' chain hashes in seq order; `leaf = SHA-256(0x00 || record_hash)`,
`node = SHA-256(0x01 || left || right)`, and a tree of n leaves splits at the largest power of two
below n. The domain separation bytes stop a leaf from being passed off as an inner node. A
checkpoint signs the root over records 1..n, so one record can later be proven part of the signed
log with log2(n) hashes, without the rest of the log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

_LEAF = b"\x00"
_NODE = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").hexdigest()


def leaf_hash(record_hash: str) -> bytes:
    return hashlib.sha256(_LEAF + bytes.fromhex(record_hash)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE + left + right).digest()


class MerkleAccumulator:
    """The root of a growing tree in O(log n) memory: the roots of its perfect subtrees ("peaks"),
    tallest first. Their heights are the set bits of `size`, so they need not be stored."""

    def __init__(self) -> None:
        self.size = 0
        self._peaks: list[bytes] = []

    def add(self, record_hash: str) -> None:
        self.add_leaf(leaf_hash(record_hash))

    def add_digest(self, record_digest: bytes) -> None:
        """`add` for the record hash as its 32 raw bytes (what the verifier already holds)."""
        self.add_leaf(hashlib.sha256(_LEAF + record_digest).digest())

    def add_leaf(self, leaf: bytes) -> None:
        # A new leaf merges with one peak per trailing 1 bit of the size (equal heights pair up).
        node, n, peaks, sha256 = leaf, self.size, self._peaks, hashlib.sha256
        while n & 1:
            node = sha256(_NODE + peaks.pop() + node).digest()
            n >>= 1
        peaks.append(node)
        self.size += 1

    def add_block(self, height: int, node: bytes) -> None:
        """Add the root of a perfect subtree of `2**height` leaves starting at leaf `size` (which
        `2**height` must divide): what adding those leaves one by one would give."""
        n, peaks, sha256 = self.size >> height, self._peaks, hashlib.sha256
        while n & 1:
            node = sha256(_NODE + peaks.pop() + node).digest()
            n >>= 1
        peaks.append(node)
        self.size += 1 << height

    def root(self) -> str:
        if not self._peaks:
            return EMPTY_ROOT
        # RFC 6962 splits at the largest power of two, i.e. folds the peaks from the right.
        node = self._peaks[-1]
        for left in reversed(self._peaks[:-1]):
            node = node_hash(left, node)
        return node.hex()


def aligned_blocks(digests: Sequence[bytes], first: int, cuts: Sequence[int] = ()) -> list[tuple[int, bytes]]:
    """The records `digests` (raw record hashes, leaves `first`, `first` + 1, ... of the whole
    tree) as (height, root) of the largest perfect subtrees aligned in the whole tree, in order, for
    `MerkleAccumulator.add_block`. No block spans a position in `cuts` (a tree size whose root is
    wanted: a checkpoint's seq). Hashed a level at a time: one comprehension per level and block
    instead of a loop step per leaf."""
    sha256 = hashlib.sha256
    leaves = [sha256(_LEAF + digest).digest() for digest in digests]
    end = first + len(digests)
    blocks: list[tuple[int, bytes]] = []
    start = first
    for stop in [*sorted(c for c in cuts if first < c < end), end]:
        while start < stop:
            height = 0  # the tallest block that starts aligned at `start` and ends by `stop`
            while (start >> height) & 1 == 0 and start + (2 << height) <= stop:
                height += 1
            level = leaves[start - first : start - first + (1 << height)]
            while len(level) > 1:
                level = [sha256(_NODE + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
            blocks.append((height, level[0]))
            start += 1 << height
    return blocks


def root_of(leaves: Sequence[bytes]) -> bytes:
    if not leaves:
        return bytes.fromhex(EMPTY_ROOT)
    if len(leaves) == 1:
        return leaves[0]
    split = _split(len(leaves))
    return node_hash(root_of(leaves[:split]), root_of(leaves[split:]))


def _split(n: int) -> int:
    """Largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[str]:
    """The audit path of leaf `index` (0-based) in the tree over `leaves`, bottom-up, hex."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} is outside a tree of {len(leaves)}")
    path: list[bytes] = []
    lo, hi = 0, len(leaves)
    # Walk top-down, remembering the sibling subtree at each level, then return bottom-up.
    while hi - lo > 1:
        split = lo + _split(hi - lo)
        if index < split:
            path.append(root_of(leaves[split:hi]))
            hi = split
        else:
            path.append(root_of(leaves[lo:split]))
            lo = split
    return [p.hex() for p in reversed(path)]


def root_from_proof(record_hash: str, index: int, size: int, proof: Sequence[str]) -> str:
    """Recompute the root a proof claims (RFC 9162 section 2.1.3.2); compare it to a signed root."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is outside a tree of {size}")
    fn, sn = index, size - 1
    node = leaf_hash(record_hash)
    for sibling_hex in proof:
        sibling = bytes.fromhex(sibling_hex)
        if sn == 0:
            raise ValueError("proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            node = node_hash(node, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("proof is shorter than the tree is deep")
    return node.hex()
