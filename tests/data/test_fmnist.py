"""Fashion-MNIST with no manual step: the search order (root, then
$RAYSWEEP_DATA, then Debian's folder, monkeypatched here to tiny files in the package's layout,
with a control where it is absent), the checks of the files, and `raysweep data fmnist`. Nothing
here needs the Debian package; the one test of the installed files skips without it."""
from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from raysweep.cli import main
from raysweep.data import fmnist, load_dataset, real
from raysweep._core.errors import UserError
from user_errors import one_error_line, tree
from data_files import make_mnist_like, upright_digits, write_idx_gz


def make_debian_like(folder: Path, sizes=(30, 10), seed_offset=0) -> None:
    """The package's layout: the four gzip IDX files side by side, no FashionMNIST/raw."""
    for (images, labels), n in zip([fmnist.FILES[:2], fmnist.FILES[2:]], sizes):
        x, y = upright_digits(n, seed=n + seed_offset)
        write_idx_gz(folder / images, x)
        write_idx_gz(folder / labels, y)


@pytest.fixture
def places(tmp_path, monkeypatch):
    """(root, env, debian) folders, each with its own data (20, 25, 30 training images); Debian's
    path monkeypatched, $RAYSWEEP_DATA unset until a test sets it."""
    root, env, debian = tmp_path / "root", tmp_path / "env", tmp_path / "usr-share-datasets" / "fashion-mnist"
    make_mnist_like(root, real.FMNIST, sizes=(20, 10))
    make_mnist_like(env, real.FMNIST, sizes=(25, 10))
    make_debian_like(debian, sizes=(30, 10))
    monkeypatch.delenv("RAYSWEEP_DATA", raising=False)
    monkeypatch.setattr(fmnist, "DEBIAN_DIR", debian)
    return root, env, debian


def test_search_order_root_then_environment_then_debian(places, monkeypatch):
    root, env, debian = places
    monkeypatch.setenv("RAYSWEEP_DATA", str(env))
    ds = load_dataset("fmnist", root=str(root))
    assert (len(ds.train), ds.meta["source"], ds.meta["root"]) == (20, "root", str(root / "FashionMNIST" / "raw"))
    ds = load_dataset("fmnist")
    assert (len(ds.train), ds.meta["source"]) == (25, "RAYSWEEP_DATA")
    monkeypatch.delenv("RAYSWEEP_DATA")
    ds = load_dataset("fmnist")
    assert (len(ds.train), ds.meta["source"], ds.meta["root"]) == (30, "debian", str(debian))
    assert ds.meta["files"] == [f"{n}.gz" for n in fmnist.FILES] and not ds.meta["released"]


def test_environment_without_fmnist_does_not_hide_debian(places, tmp_path, monkeypatch):
    """$RAYSWEEP_DATA set for EMNIST alone: Fashion-MNIST still comes from Debian."""
    emnist_only = tmp_path / "emnist-only"
    make_mnist_like(emnist_only, real.EMNIST)
    monkeypatch.setenv("RAYSWEEP_DATA", str(emnist_only))
    assert load_dataset("fmnist").meta["source"] == "debian"


def test_control_without_debian_nothing_is_found(places, tmp_path, monkeypatch, capsys):
    """The control: the same call with Debian's folder absent is exit 2, one line naming the fix."""
    monkeypatch.setattr(fmnist, "DEBIAN_DIR", tmp_path / "absent")
    with pytest.raises(UserError, match="make fmnist"):
        load_dataset("fmnist")
    assert main(["data", "fmnist"]) == 2
    one_error_line(capsys, f"searched {tmp_path / 'absent'}", "run `make fmnist`")


def test_an_explicit_root_never_falls_back(places, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["data", "fmnist", "--data-root", str(empty)]) == 2
    one_error_line(capsys, f"fmnist is missing under {empty}", "raysweep data fetch fmnist")


def test_a_root_may_be_a_copy_of_the_debian_folder(places, tmp_path):
    _, _, debian = places
    copy = tmp_path / "copy"
    shutil.copytree(debian, copy)
    ds = load_dataset("fmnist", root=str(copy))
    assert (len(ds.train), ds.meta["root"]) == (30, str(copy))


def test_data_hash_is_the_content_wherever_and_however_stored(places, tmp_path):
    """The Debian folder's gzip files and the same bytes unpacked in torchvision's layout hash
    alike (the hash is raysweep.data.cache.hash_files over the uncompressed files)."""
    _, _, debian = places
    raw = tmp_path / "unpacked" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in fmnist.FILES:
        (raw / name).write_bytes(gzip.decompress((debian / f"{name}.gz").read_bytes()))
    from raysweep.data.cache import hash_files

    want = hash_files([raw / n for n in fmnist.FILES], {"name": "fmnist"})
    assert load_dataset("fmnist").data_hash == load_dataset("fmnist", root=str(tmp_path / "unpacked")).data_hash == want


def test_cli_says_where_it_found_the_data(places, capsys):
    _, _, debian = places
    assert main(["data", "fmnist"]) == 0
    out = capsys.readouterr().out
    assert f"fmnist: found in {debian} (from Debian package dataset-fashion-mnist)" in out
    assert "not the released files" in out and "train: 30  test: 10" in out


# --- bad files (item 5): one line naming the file and the fix, nothing written ------------------
def _cut_gzip(folder: Path) -> Path:
    bad = folder / "train-images-idx3-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-40])
    return bad


def _cut_idx(folder: Path) -> Path:
    bad = folder / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(gzip.compress(gzip.decompress(bad.read_bytes())[:-100]))
    return bad


def _not_idx(folder: Path) -> Path:
    bad = folder / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(gzip.compress(b"\x00\x00\x0d\x01" + bytes(8)))  # type 0x0d: float, not unsigned byte
    return bad


def _label_out_of_range(folder: Path) -> Path:
    write_idx_gz(folder / "t10k-labels-idx1-ubyte", np.full(10, 12))
    return folder / "t10k-labels-idx1-ubyte.gz"


def _missing(folder: Path) -> Path:
    bad = folder / "t10k-labels-idx1-ubyte.gz"
    bad.unlink()
    return bad


DEBIAN_CASES = {
    "gzip cut short": (_cut_gzip, "is not a readable gzip file"),
    "IDX cut short": (_cut_idx, "is cut short: 7756 bytes where its header (10, 28, 28) needs 7856"),
    "not unsigned-byte IDX": (_not_idx, "is unreadable: not an IDX file of unsigned bytes"),
    "label out of range": (_label_out_of_range, "has label 12, outside 0..9"),
    "file missing": (_missing, "fmnist is incomplete in"),
}


@pytest.mark.parametrize("case", sorted(DEBIAN_CASES))
def test_bad_debian_files_exit_2_with_the_reinstall_fix(case, places, capsys):
    _, _, debian = places
    spoil, phrase = DEBIAN_CASES[case]
    bad = spoil(debian)
    before = tree(debian)
    assert main(["data", "fmnist"]) == 2
    err = one_error_line(capsys, phrase, "apt-get install --reinstall dataset-fashion-mnist")
    assert bad.name.removesuffix(".gz") in err
    assert tree(debian) == before  # nothing unpacked or half-written beside the package's files


def test_a_file_with_the_released_count_must_be_the_released_file(places, monkeypatch, capsys):
    """10,000 test images and labels are checked against the pinned sha256: altered bytes fail;
    the same bytes with the pins set to them pass (the control)."""
    _, _, debian = places
    write_idx_gz(debian / "t10k-labels-idx1-ubyte", np.arange(10_000) % 10)
    write_idx_gz(debian / "t10k-images-idx3-ubyte", np.zeros((10_000, 28, 28), dtype=np.uint8))
    pin = lambda name: (lambda b: (len(b), hashlib.sha256(b).hexdigest()))(  # noqa: E731
        gzip.decompress((debian / f"{name}.gz").read_bytes()))
    monkeypatch.setitem(fmnist.RELEASED, "t10k-images-idx3-ubyte", pin("t10k-images-idx3-ubyte"))
    assert main(["data", "fmnist"]) == 2
    one_error_line(capsys, "t10k-labels-idx1-ubyte.gz has the released file's 10000 entries but not its sha256",
                   "apt-get install --reinstall")
    monkeypatch.setitem(fmnist.RELEASED, "t10k-labels-idx1-ubyte", pin("t10k-labels-idx1-ubyte"))
    ds = load_dataset("fmnist")
    assert len(ds.test) == 10_000 and not ds.meta["released"]  # the training files are still a subset


@pytest.mark.skipif(not fmnist.DEBIAN_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed (make fmnist)")
def test_the_installed_debian_files_are_the_released_ones(monkeypatch):
    monkeypatch.delenv("RAYSWEEP_DATA", raising=False)
    ds = load_dataset("fmnist")
    assert ds.meta["source"] == "debian" and ds.meta["released"]
    assert (len(ds.train), len(ds.test)) == (60_000, 10_000)
    assert ds.train.y.bincount().tolist() == [6000] * 10
