"""Flat packing of many short sequences: one concatenated array plus offsets (no per-pair Python).

The compiled kernels (:mod:`scanpath.metrics._dp`) and the rapidfuzz glue take this layout.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pack(seqs: Sequence, dtype=np.int64, width: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(flat values, offsets ``[len + 1]``) of a list of 1-D (``width=0``) or ``(L, width)`` arrays.

    One ``np.concatenate`` for the common case; any odd element (a list, an empty ``[]`` among 2-D
    arrays) falls back to per-element conversion with the same result.
    """
    n = len(seqs)
    offs = np.zeros(n + 1, dtype=np.int64)
    shape = (0,) if width == 0 else (0, width)
    if n == 0:
        return np.zeros(shape, dtype=dtype), offs
    lens = np.fromiter(map(len, seqs), dtype=np.int64, count=n)
    np.cumsum(lens, out=offs[1:])
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
    lens = np.concatenate([np.diff(o) for _, o in sides]) if sides else np.zeros(0, np.int64)
    # flat codes with one separator after every sequence (the last one dropped): one split() cuts them
    buf = np.full(len(flat) + len(lens), sep, dtype=np.uint8 if sep < 256 else np.uint32)
    buf[np.arange(len(flat)) + np.repeat(np.arange(len(lens)), lens)] = flat
    if sep < 256:  # one byte per label
        big = buf[:-1].tobytes().decode("latin-1")
    else:
        big = buf[:-1].astype("<u4").tobytes().decode("utf-32-le")
    strs = big.split(chr(sep))
    out, k = [], 0
    for c in counts:
        out.append(strs[k:k + c])
        k += c
    return out
