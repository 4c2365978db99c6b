"""Rows read from cache files (raysweep.data.file_rows): the same bytes as indexing the memory map,
so a trial's subset, its attacked test rows and its kNN neighbours stay the same now that trials
read the cache files in chunks (keeping the large training file out of resident memory)."""
import numpy as np
import pytest
import torch

from raysweep.data import load_dataset
from raysweep.data.batch import Split
from raysweep.data.file_rows import FileRows
from raysweep.data.subset import subset
from raysweep.manifold.projection_knn import knn_projection, nearest_neighbours


@pytest.fixture
def stored(tmp_path):
    """A small uint8 image array saved as .npy, and its FileRows."""
    a = torch.randint(0, 256, (503, 1, 4, 4), generator=torch.Generator().manual_seed(0), dtype=torch.uint8).numpy()
    np.save(tmp_path / "x.npy", a)
    return torch.from_numpy(a), FileRows.of_npy(tmp_path / "x.npy")


def test_layout_is_read_from_the_header(stored):
    x, rows = stored
    assert rows.shape == tuple(x.shape) and rows.dtype == np.uint8 and len(rows) == 503


@pytest.mark.parametrize("idx", [
    [0, 1, 2, 3, 10, 11, 502],  # runs of consecutive rows
    [7, 3, 3, 500, -1, 0],  # unsorted, repeated, negative
    list(range(503)),
    [],
])
def test_take_equals_indexing_the_array(stored, idx):
    x, rows = stored
    idx = torch.tensor(idx, dtype=torch.long)
    got = rows.take(idx)
    assert got.dtype == x.dtype and torch.equal(got, x[idx])


def test_random_subsets_equal_indexing(stored):
    x, rows = stored
    g = torch.Generator().manual_seed(1)
    for n in (1, 37, 250, 503):
        idx = torch.randperm(503, generator=g)[:n].sort().values
        assert torch.equal(rows.take(idx), x[idx])


def test_read_and_chunks_equal_slices(stored):
    x, rows = stored
    assert torch.equal(rows.read(100, 164), x[100:164])
    assert torch.equal(rows.read(490, 600), x[490:])  # clipped like a slice
    got = list(rows.chunks(64))
    assert [s for s, _ in got] == list(range(0, 503, 64))
    assert torch.equal(torch.cat([t for _, t in got]), x)


def test_out_of_range_rows_fail(stored):
    _, rows = stored
    with pytest.raises(IndexError):
        rows.take(torch.tensor([503]))
    with pytest.raises(IndexError):
        rows.take(torch.tensor([-504]))


def test_split_with_rows_cuts_the_same_subsets_and_batches(stored):
    x, rows = stored
    y = torch.arange(503) % 10
    plain, filed = Split(x=x, y=y), Split(x=x, y=y, rows=rows)
    idx = subset(y, 120, seed=3)
    assert torch.equal(filed.subset(idx).x, plain.subset(idx).x)
    assert filed.subset(idx).rows is None  # a subset lives in memory
    assert torch.equal(filed.batch(slice(20, 90)).x, plain.batch(slice(20, 90)).x)
    assert torch.equal(filed.batch(idx).x, plain.batch(idx).x)
    assert filed.images_source is rows and plain.images_source is x


@pytest.mark.parametrize("center", ["clean", "mean"])
def test_knn_from_the_file_equals_knn_from_the_array(stored, center):
    x, rows = stored
    g = torch.Generator().manual_seed(2)
    clean = x[:40].float() / 255
    x_adv = (clean + 0.05 * torch.randn(clean.shape, generator=g)).clamp(0, 1)
    # chunk < N: the running top-k crosses chunk boundaries; query_chunk < B: the file is re-read
    want = knn_projection(x_adv, clean, x, k=9, center=center, chunk=64, query_chunk=16)
    got = knn_projection(x_adv, clean, rows, k=9, center=center, chunk=64, query_chunk=16)
    assert torch.equal(got.neighbours, want.neighbours)
    assert torch.equal(got.residual, want.residual) and torch.equal(got.delta_l2, want.delta_l2)
    assert torch.equal(nearest_neighbours(x_adv.flatten(1), rows, 5, 100),
                       nearest_neighbours(x_adv.flatten(1), x.flatten(1), 5, 100))


def test_fonts_splits_read_their_cache_files(cache_dir):
    ds = load_dataset("fonts", train_size=400, test_size=100)
    for split in (ds.train, ds.test):
        assert split.rows is not None and split.rows.shape == tuple(split.x.shape)
        idx = subset(split.y, 50, seed=1)
        assert torch.equal(split.subset(idx).x, split.x[idx])
