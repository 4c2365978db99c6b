"""The on-disk data cache: build once, atomic entries, a lost race keeps the winner's entry."""
import numpy as np
import pandas as pd
import pytest

from raysweep.data import cache


def _writer(value):
    def build(w):
        w.array("a", np.full(4, value, dtype=np.uint8))
        w.table("t", pd.DataFrame({"v": [value]}))
        w.meta({"value": value})
    return build


def test_builds_once_then_reuses(tmp_path):
    calls = []

    def build(w):
        calls.append(1)
        _writer(7)(w)

    e1, built1 = cache.cached("k", "abc", build, tmp_path)
    e2, built2 = cache.cached("k", "abc", build, tmp_path)
    assert (built1, built2, len(calls)) == (True, False, 1)
    assert e2.array("a").tolist() == [7] * 4 and e2.table("t")["v"].tolist() == [7] and e2.meta == {"value": 7}


def test_losing_a_race_keeps_the_first_complete_entry(tmp_path):
    def slow_build(w):
        # another process finishes the same key while this one is still building
        cache.cached("k", "race", _writer(1), tmp_path)
        _writer(2)(w)

    entry, built = cache.cached("k", "race", slow_build, tmp_path)
    assert not built and entry.meta == {"value": 1}
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == ["race"]  # temp copy removed


def test_a_failed_build_leaves_nothing(tmp_path):
    def broken(w):
        w.array("a", np.zeros(3))
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        cache.cached("k", "bad", broken, tmp_path)
    assert list((tmp_path / "k").iterdir()) == []


def test_cache_root_prefers_argument_then_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RAYSWEEP_CACHE", str(tmp_path / "env"))
    assert cache.cache_root() == tmp_path / "env"
    assert cache.cache_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("RAYSWEEP_CACHE")
    assert cache.cache_root().name == "raysweep"


def test_hash_files_depends_on_bytes_and_extra(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"one")
    h = cache.hash_files([f], {"x": 1})
    assert h == cache.hash_files([f], {"x": 1}) != cache.hash_files([f], {"x": 2})
    f.write_bytes(b"two")
    assert cache.hash_files([f], {"x": 1}) != h
