"""Training subsets: class-balanced, deterministic in (n, seed), nested across n."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from raysweep.data.batch import Split
from raysweep.data.subset import subset
from raysweep._core.errors import UserError


def _labels(n=3000, classes=10, seed=0):
    return torch.randint(0, classes, (n,), generator=torch.Generator().manual_seed(seed))


def test_balanced_deterministic_and_unique():
    y = _labels()
    idx = subset(y, 250, seed=3)
    assert idx.dtype == torch.long and len(idx) == 250 == len(torch.unique(idx))
    assert torch.equal(idx, subset(y, 250, seed=3))
    assert not torch.equal(idx, subset(y, 250, seed=4))
    counts = torch.bincount(y[idx], minlength=10)
    assert counts.max() - counts.min() <= 1


def test_nested_across_n_for_the_same_seed():
    y = _labels()
    sizes = [10, 250, 500, 1000, 2500]
    sets = [set(subset(y, n, seed=1).tolist()) for n in sizes]
    for small, big in zip(sets, sets[1:]):
        assert small <= big


@settings(max_examples=30, deadline=None)
@given(n_small=st.integers(4, 200), extra=st.integers(0, 200), seed=st.integers(0, 2**31), classes=st.integers(2, 4))
def test_nested_and_balanced_property(n_small, extra, seed, classes):
    y = _labels(400, classes, seed=seed % 7)
    n_small = max(n_small, classes)
    a, b = subset(y, n_small, seed), subset(y, n_small + extra, seed)
    assert set(a.tolist()) <= set(b.tolist())
    per_class = torch.bincount(y[a], minlength=classes)
    available = torch.bincount(y, minlength=classes)
    # balanced: a class with rows left has at most one fewer than the fullest class
    left = per_class < available
    assert torch.all(per_class[left] >= per_class.max() - 1)


def test_unbalanced_classes_still_fill_n():
    y = torch.tensor([0] * 5 + [1] * 100)
    idx = subset(y, 50, seed=0)
    assert len(idx) == 50 and int((y[idx] == 0).sum()) == 5


def test_accepts_a_split():
    y = _labels(100)
    split = Split(x=torch.zeros(100, 1, 2, 2, dtype=torch.uint8), y=y)
    assert torch.equal(subset(split, 20, 0), subset(y, 20, 0))


@pytest.mark.parametrize("n, match", [(3001, "larger than the training split"), (9, "cannot cover the 10 classes")])
def test_impossible_n_is_a_user_error(n, match):
    with pytest.raises(UserError, match=match):
        subset(_labels(), n, seed=0)
