"""Sample dicts whose heavy fields (images, crops) are computed when first read.

Keeping every decoded image or crop in memory does not scale (1,000 search arrays need ~4.5 GB of
crops), so datamodules hand out :class:`LazySample` objects: they behave like plain dicts, but the
keys listed by :meth:`LazySample._lazy_keys` are produced by :meth:`LazySample._load` on access
(usually through a store with an :class:`~scanpath.utils.lru.LruCache`). ``dict(sample)``
materialises everything.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any


class LazySample(MutableMapping):
    """Base class: subclasses define which keys are lazy and how to load one."""

    __slots__ = ("_data", "_store")

    def __init__(self, data: dict[str, Any], store: Any = None) -> None:
        self._data = data
        self._store = store

    def _lazy_keys(self) -> tuple[str, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _load(self, key: str) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _lazy(self) -> tuple[str, ...]:
        return tuple(k for k in self._lazy_keys() if k not in self._data)

    def __getitem__(self, key: str) -> Any:
        if key in self._data:
            return self._data[key]
        if key in self._lazy():
            return self._load(key)
        raise KeyError(key)

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value

    def __delitem__(self, key: str) -> None:
        del self._data[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._data
        yield from self._lazy()

    def __len__(self) -> int:
        return len(self._data) + len(self._lazy())

    def __contains__(self, key: object) -> bool:
        return key in self._data or key in self._lazy()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({sorted(self)})"

    # identity semantics: comparing two samples must not materialise and compare tensors
    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = object.__hash__
