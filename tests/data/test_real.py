"""EMNIST, Fashion-MNIST and CelebA from tiny fixtures in each format's real on-disk layout,
loaded through the same code path (torchvision's dataset classes) as the full data sets."""
import gzip
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from raysweep.cli import main
from raysweep.data import real
from raysweep.data import load_dataset
from raysweep._core.errors import UserError

from data_files import make_celeba, make_mnist_like, upright_digits, write_idx_gz


@pytest.fixture
def root(tmp_path, monkeypatch):
    d = tmp_path / "data"
    d.mkdir()
    monkeypatch.delenv("RAYSWEEP_DATA", raising=False)
    return d


@pytest.mark.parametrize("ds", [real.EMNIST, real.FMNIST], ids=lambda d: d.name)
@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "raw"])
def test_mnist_likes_load_upright_from_their_layout(root, ds, gz):
    expect = make_mnist_like(root, ds, gz=gz)
    data = load_dataset(ds.name, root=str(root))
    assert (len(data.train), len(data.test), data.n_classes) == (30, 10, 10)
    assert data.image_shape == (1, 28, 28) and data.train.x.dtype == torch.uint8
    assert np.array_equal(data.train.x[:, 0].numpy(), expect["train"][0])  # upright, bar on top
    assert np.array_equal(data.test.y.numpy(), expect["test"][1]) and data.test.y.dtype == torch.long


def test_data_root_from_environment(root, monkeypatch):
    make_mnist_like(root, real.FMNIST)
    monkeypatch.setenv("RAYSWEEP_DATA", str(root))
    assert len(load_dataset("fmnist").train) == 30


def test_data_hash_follows_the_files(root):
    make_mnist_like(root, real.FMNIST)
    h = load_dataset("fmnist", root=str(root)).data_hash
    assert load_dataset("fmnist", root=str(root)).data_hash == h
    make_mnist_like(root, real.FMNIST, sizes=(20, 10), gz=False)
    assert load_dataset("fmnist", root=str(root)).data_hash != h


def test_celeba_male_vs_female_at_56x48(root, cache_dir):
    make_celeba(root)
    data = load_dataset("celeba", root=str(root))
    assert (len(data.train), len(data.test), data.n_classes) == (4, 2, 2)  # train + valid / test
    assert data.image_shape == (3, 56, 48) and data.train.x.dtype == torch.uint8
    assert data.train.y.tolist() == [1, 0, 1, 0] and data.test.y.tolist() == [0, 1]
    x = data.test.x[0].int()
    assert x[0, :20].float().mean() > 230 and x[2, :20].float().mean() < 25  # top red
    assert x[2, -20:].float().mean() > 230 and x[0, -20:].float().mean() < 25  # bottom blue


def test_celeba_decodes_once_then_uses_the_cache(root, cache_dir, monkeypatch):
    make_celeba(root)
    first = load_dataset("celeba", root=str(root))

    def fail(*a, **k):
        raise AssertionError("decoded again although cached")

    monkeypatch.setattr(real, "_build_celeba", fail)
    second = load_dataset("celeba", root=str(root))
    assert torch.equal(first.train.x, second.train.x) and first.data_hash == second.data_hash


def test_celeba_missing_image_is_user_error(root, cache_dir):
    names = make_celeba(root)
    os.remove(root / "celeba" / "img_align_celeba" / names[2])
    with pytest.raises(UserError, match=names[2]):
        load_dataset("celeba", root=str(root))


def test_no_data_root_is_user_error(root):
    with pytest.raises(UserError, match="--data-root"):
        load_dataset("emnist")


@pytest.mark.parametrize("name", ["emnist", "fmnist", "celeba"])
def test_unknown_options_are_user_errors(root, name):
    with pytest.raises(UserError, match="preset"):
        load_dataset(name, root=str(root), preset="hard")


@pytest.mark.parametrize("name", ["emnist", "fmnist", "celeba"])
def test_empty_root_names_expected_files_and_fetch_command(root, name):
    with pytest.raises(UserError, match=f"raysweep data fetch {name}") as e:
        load_dataset(name, root=str(root))
    assert "expected" in str(e.value) and "\n" not in str(e.value)


def test_incomplete_roots_name_the_missing_file(root):
    make_mnist_like(root, real.EMNIST)
    os.remove(root / "EMNIST" / "raw" / "emnist-digits-test-labels-idx1-ubyte.gz")
    with pytest.raises(UserError, match=r"expected EMNIST/raw/emnist-digits-test-labels-idx1-ubyte\[.gz\];"):
        load_dataset("emnist", root=str(root))
    make_celeba(root)
    os.remove(root / "celeba" / "identity_CelebA.txt")
    with pytest.raises(UserError, match=r"expected celeba/identity_CelebA.txt;"):
        load_dataset("celeba", root=str(root))


def test_corrupt_idx_file_is_user_error(root):
    make_mnist_like(root, real.FMNIST, gz=False)
    (root / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x07garbage")
    with pytest.raises(UserError, match="unreadable"):
        load_dataset("fmnist", root=str(root))


def test_cli_missing_root_exits_2_with_one_line(root, capsys):
    assert main(["data", "load", "fmnist", "--data-root", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "raysweep data fetch fmnist" in err[0]
    r = subprocess.run([sys.executable, "-m", "raysweep.cli", "data", "load", "celeba", "--data-root", str(root)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith("raysweep: error: celeba is missing")


def test_cli_load_prints_summary(root, capsys):
    make_mnist_like(root, real.EMNIST)
    assert main(["data", "load", "emnist", "--data-root", str(root)]) == 0
    assert "train: 30  test: 10  image: 1x28x28  classes: 10" in capsys.readouterr().out
