"""Flat packing of many short sequences: one concatenated array plus offsets (no per-pair Python).

The compiled kernels (:mod:`scanpath.metrics._dp`) and the rapidfuzz glue take this layout.
:class:`Packed` carries it through: a read-only sequence of per-scanpath views that the labelers
return, so the metrics get the flat layout back without one conversion per scanpath.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


class Packed(Sequence):
    """Many 1-D sequences stored as ``flat`` values plus ``offsets`` (``[n + 1]``, ``offsets[0] = 0``).

    Indexing gives a view of one sequence (a slice gives a list of views), so code written for a list
    of label arrays works unchanged; :func:`pack` returns the two arrays as they are.
    """

    __slots__ = ("flat", "offsets")

    def __init__(self, flat: np.ndarray, offsets: np.ndarray) -> None:
        offsets = np.asarray(offsets, dtype=np.int64)
        if offsets.ndim != 1 or len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(flat) \
                or (np.diff(offsets) < 0).any():
            raise ValueError("offsets must start at 0, not decrease and end at len(flat)")
        self.flat = np.asarray(flat)
        self.offsets = offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        n = len(self)
        k = int(i) + n if int(i) < 0 else int(i)
        if not 0 <= k < n:
            raise IndexError(f"index {i} out of range for {n} sequences")
        return self.flat[self.offsets[k]:self.offsets[k + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        flat, offs = self.flat, self.offsets.tolist()
        return (flat[a:b] for a, b in zip(offs[:-1], offs[1:]))

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __repr__(self) -> str:
        return f"Packed({len(self)} sequences, {len(self.flat)} values)"


def lengths(seqs: Sequence) -> np.ndarray:
    """Number of labels of every sequence (int64; a ``str`` counts its characters, an array its
    elements), without converting them."""
    if isinstance(seqs, Packed):
        return seqs.lengths()
    if _all_str(seqs):
        return np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
    return np.fromiter((np.size(s) for s in seqs), dtype=np.int64, count=len(seqs))


def _str_codes(seqs: Sequence[str]) -> np.ndarray:
    """Code points of many strings, concatenated (one encode)."""
    return np.frombuffer("".join(seqs).encode("utf-32-le", "surrogatepass"), dtype="<u4").astype(np.int64)


def is_strings(seqs: Sequence) -> bool:
    """Whether the sequences are given as ``str`` (one character per label; the first one decides)."""
    return not isinstance(seqs, Packed) and len(seqs) > 0 and isinstance(seqs[0], str)


def _all_str(seqs: Sequence) -> bool:
    """Whether every sequence is a ``str`` (``str.join`` checks them in C, 7x faster than a type scan)."""
    if not is_strings(seqs):
        return False
    try:
        "".join(seqs)
    except TypeError:
        return False
    return True


def pack(seqs: Sequence, dtype=np.int64, width: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(flat values, offsets ``[len + 1]``) of a list of 1-D (``width=0``) or ``(L, width)`` arrays.

    A :class:`Packed` is returned as it is stored (cast only when its dtype differs); ``str`` items
    are read as code points. One ``np.concatenate`` for the common case; any odd element (a list, an
    empty ``[]`` among 2-D arrays) falls back to per-element conversion with the same result.
    """
    if isinstance(seqs, Packed) and width == 0:
        return np.ascontiguousarray(seqs.flat, dtype=dtype), seqs.offsets
    n = len(seqs)
    offs = np.zeros(n + 1, dtype=np.int64)
    shape = (0,) if width == 0 else (0, width)
    if n == 0:
        return np.zeros(shape, dtype=dtype), offs
    lens = np.fromiter(map(len, seqs), dtype=np.int64, count=n)
    np.cumsum(lens, out=offs[1:])
    if width == 0 and _all_str(seqs):
        return _str_codes(seqs).astype(dtype, copy=False), offs
    try:
        flat = np.asarray(np.concatenate(seqs, axis=0), dtype=dtype)
        ok = flat.shape[0] == offs[-1] and flat.ndim == (1 if width == 0 else 2) and (not width or flat.shape[1] == width)
    except ValueError:
        ok = False
    if not ok:
        arrs = [np.asarray(s, dtype=dtype).reshape((-1,) if width == 0 else (-1, width)) for s in seqs]
        offs[1:] = np.cumsum([len(x) for x in arrs])
        flat = np.concatenate(arrs, axis=0)
    return np.ascontiguousarray(flat), offs


_SURROGATES = (0xD800, 0xE000)  # code points a Python str cannot hold alone


def _no_surrogate(c: np.ndarray) -> np.ndarray:
    c = c.copy()
    c[c >= _SURROGATES[0]] += _SURROGATES[1] - _SURROGATES[0]
    return c


def strings(*sides: tuple[np.ndarray, np.ndarray]) -> list[list[str]]:
    """Each packed label sequence as a character string (one code point per label), all sides with
    one code table: labels are the code points when they fit, else they are remapped densely
    (``np.unique``) over every side. One decode and one ``str.split`` for all sequences."""
    flats = [f for f, _ in sides]
    counts = [len(o) - 1 for _, o in sides]
    flat = np.concatenate(flats) if flats else np.zeros(0, np.int64)
    if flat.size and (flat.min() < 0 or flat.max() >= _SURROGATES[0]):
        _, inv = np.unique(flat, return_inverse=True)
        flat = _no_surrogate(inv.reshape(-1).astype(np.int64))
    top = int(flat.max()) if flat.size else -1
    sep = int(_no_surrogate(np.array([top + 1]))[0])
    if sep > 0x10FFFF:
        raise ValueError("more distinct labels than Unicode code points")
    # end offsets of every sequence in the concatenated sides (the last one of all gets no separator)
    ends = np.concatenate([o[1:] + (sum(len(f) for f in flats[:k])) for k, (_, o) in enumerate(sides)]) \
        if sides else np.zeros(0, np.int64)
    code = np.uint8 if sep < 256 else np.uint32
    buf = np.insert(flat.astype(code), ends[:-1], code(sep)) if len(ends) else np.zeros(0, code)
    if sep < 256:  # one byte per label
        big = buf.tobytes().decode("latin-1")
    else:
        big = buf.astype("<u4").tobytes().decode("utf-32-le")
    strs = big.split(chr(sep)) if len(ends) else []
    out, k = [], 0
    for c in counts:
        out.append(strs[k:k + c])
        k += c
    return out
