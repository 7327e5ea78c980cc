"""Keyed randomness: every random draw of a selection comes from a hash of (seed, row id).

A row's draw depends on the seed, the row's id and the name of the draw ("random",
"kmq", "sample"...), never on where the row sits in the pool or which shard holds it. So a
selection is a function of the set of rows: shuffling the pool, sharding it 1 or 12 ways,
or running the shards on Ray gives the same ids. Draws without replacement are "the n
rows with the smallest keys"; weighted draws add keyed Gumbel noise (Gumbel-top-k). Both
decompose over shards: the n smallest keys of a pool are among the n smallest of each
shard, which is what lets a selector plan keep only n candidates per shard.

The row hash is blake2b of the id's UTF-8 bytes (stable across Python, numpy and polars
versions, unlike their built-in hashes); seed and draw name are mixed in with splitmix64,
vectorised in numpy.
"""

from __future__ import annotations

import hashlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = x + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * _MIX1
        x = (x ^ (x >> np.uint64(27))) * _MIX2
        return x ^ (x >> np.uint64(31))


def id_hashes(ids) -> np.ndarray:
    """(N,) uint64: each id's blake2b hash (ids as strings)."""
    return np.fromiter((int.from_bytes(hashlib.blake2b(str(i).encode(), digest_size=8).digest(),
                                       "little") for i in ids), dtype=np.uint64, count=len(ids))


def _stream(seed: int, name: str) -> np.uint64:
    digest = hashlib.blake2b(f"{int(seed)}:{name}".encode(), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def row_keys(seed: int, hashes: np.ndarray, name: str) -> np.ndarray:
    """(N,) uint64 keys of the draw `name` under `seed`, from `id_hashes` of the rows."""
    return _splitmix(np.asarray(hashes, dtype=np.uint64) ^ _stream(seed, name))


def row_uniform(seed: int, hashes: np.ndarray, name: str) -> np.ndarray:
    """(N,) float64 in (0, 1), one per row: the 53 high bits of its key."""
    return ((row_keys(seed, hashes, name) >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


def row_gumbel(seed: int, hashes: np.ndarray, name: str) -> np.ndarray:
    """(N,) standard Gumbel noise, one per row."""
    return -np.log(-np.log(row_uniform(seed, hashes, name)))


def smallest(keys: np.ndarray, n: int) -> np.ndarray:
    """Positions of the n smallest keys, smallest first (keys are distinct in practice:
    64-bit hashes of distinct ids; a tie falls to the lower position)."""
    keys = np.asarray(keys)
    n = min(n, len(keys))
    if n < len(keys):
        part = np.argpartition(keys, n - 1)[:n]
        return part[np.argsort(keys[part], kind="stable")]
    return np.argsort(keys, kind="stable")


def keyed_sample(seed: int, hashes: np.ndarray, n: int, name: str) -> np.ndarray:
    """n row positions drawn uniformly without replacement, keyed by row: the n rows with
    the smallest keys, in key order."""
    return smallest(row_keys(seed, hashes, name), n)
