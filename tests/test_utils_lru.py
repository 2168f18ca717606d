"""The shared LRU cache and lazy sample base used by datamodules and the 360° environment."""

import pickle

import pytest

from scanpath.datamodules.lazy import LazySample
from scanpath.utils.lru import LruCache


def test_lru_evicts_least_recently_used_and_counts_computes():
    calls = []
    cache: LruCache[int] = LruCache(2)

    def make(k):
        return lambda: calls.append(k) or k * 10

    assert cache.get_or_compute("a", make("a")) == "aaaaaaaaaa"
    cache.get_or_compute("b", make("b"))
    cache.get_or_compute("a", make("a"))  # hit: "a" becomes most recent
    cache.get_or_compute("c", make("c"))  # evicts "b"
    assert "a" in cache and "c" in cache and "b" not in cache
    assert calls == ["a", "b", "c"]


def test_lru_size_zero_never_stores_and_pickle_drops_contents():
    cache: LruCache[int] = LruCache(0)
    assert cache.get_or_compute(1, lambda: 5) == 5 and len(cache) == 0
    full: LruCache[int] = LruCache(3)
    full.get_or_compute(1, lambda: 1)
    clone = pickle.loads(pickle.dumps(full))
    assert len(full) == 1 and len(clone) == 0 and clone.size == 3


class _Sample(LazySample):
    __slots__ = ()

    def _lazy_keys(self):
        return ("heavy",)

    def _load(self, key):
        self._store.append(key)
        return "loaded"


def test_lazy_sample_loads_on_access_only():
    log: list[str] = []
    s = _Sample({"light": 1}, log)
    assert set(s) == {"light", "heavy"} and len(s) == 2 and "heavy" in s
    assert log == []
    assert s["heavy"] == "loaded" and log == ["heavy"]
    s["heavy"] = "set"  # an explicit value shadows the lazy one
    assert s["heavy"] == "set" and len(s) == 2
    with pytest.raises(KeyError):
        s["missing"]
    assert s == s and s != _Sample({"light": 1}, log)
