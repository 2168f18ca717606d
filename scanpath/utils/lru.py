"""A small least-recently-used cache of computed values, dropped when pickled.

Datasets and environments keep decoded images, crops or padded panoramas here so repeated reads are
cheap without holding everything in memory. Pickling (DataLoader workers, DDP spawn) sends an empty
cache: each process rebuilds what it reads.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class LruCache(Generic[V]):
    """Keeps up to ``size`` values (``size <= 0`` disables caching)."""

    def __init__(self, size: int) -> None:
        self.size = int(size)
        self._items: OrderedDict[Hashable, V] = OrderedDict()

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = compute()
        if self.size > 0:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __getstate__(self) -> dict[str, Any]:
        return {"size": self.size}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.size = state["size"]
        self._items = OrderedDict()
