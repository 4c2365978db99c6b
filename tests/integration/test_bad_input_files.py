"""Bad files: result tables, output folders, data-set files in their real on-disk
formats, font files and the cache folder. Each case is exit 2 with one `raysweep: error:
<problem>; <fix>` line naming the file, and leaves nothing half-written behind (no cache entry,
no unpacked or temporary file, no output folder)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest


from raysweep.cli import main
from raysweep.data import real
from user_errors import one_error_line, tree
from data_files import make_celeba, make_mnist_like, upright_digits, write_idx_gz


# --- result tables: `raysweep tables` and `raysweep analyze` ----------------------------------
def _good_row(trial_id: str) -> pa.Table:
    return pa.table({"sweep": ["s"], "trial_id": [trial_id], "status": ["ok"], "strategy": ["normal"],
                     "n": [50], "seed": [1], "test_error": [0.1]})


def _zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def _random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(500))


def _cut_short(path: Path) -> None:
    pq.write_table(_good_row("b"), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # a write cut short: no footer


def _no_status(path: Path) -> None:
    pq.write_table(_good_row("b").drop_columns(["status"]), path)


BAD_TABLES = {
    "0-byte": (_zero_bytes, "not a readable Parquet file"),
    "random bytes": (_random_bytes, "not a readable Parquet file"),
    "cut short": (_cut_short, "not a readable Parquet file"),
    "status-less": (_no_status, "a trials file without the column(s) status"),
}


@pytest.fixture
def sweep_dir(tmp_path) -> Path:
    trials = tmp_path / "results" / "s" / "tables" / "trials"
    trials.mkdir(parents=True)
    pq.write_table(_good_row("a"), trials / "a.parquet")
    return tmp_path / "results" / "s"


@pytest.mark.parametrize("command", ["tables", "analyze"])
@pytest.mark.parametrize("case", sorted(BAD_TABLES))
def test_bad_table_file(case, command, sweep_dir, tmp_path, capsys):
    write, phrase = BAD_TABLES[case]
    bad = sweep_dir / "tables" / "trials" / "b.parquet"
    write(bad)
    out = tmp_path / "report"
    argv = ["tables", str(sweep_dir)] if command == "tables" else ["analyze", str(sweep_dir), "--out", str(out)]
    assert main(argv) == 2
    one_error_line(capsys, f"{bad}: {phrase}", "move it out of")
    assert not out.exists()


@pytest.mark.parametrize("where", ["under a file", "is a file"])
def test_analyze_out_unwritable(where, sweep_dir, tmp_path, capsys):
    blocker = tmp_path / "blocker.txt"
    blocker.write_text("keep me")
    out = blocker / "report" if where == "under a file" else blocker
    assert main(["analyze", str(sweep_dir), "--out", str(out)]) == 2
    one_error_line(capsys, f"output folder {out}", "pass --out with a writable folder")
    assert blocker.read_text() == "keep me" and tree(sweep_dir) == ["tables", "tables/trials", "tables/trials/a.parquet"]


# --- EMNIST and Fashion-MNIST files ------------------------------------------------------------
def _not_gzip(raw: Path, ds: real.MnistLike) -> Path:
    bad = raw / f"{ds.files[0]}.gz"
    bad.write_bytes(b"these bytes are not gzip")
    return bad


def _gzip_cut_short(raw: Path, ds: real.MnistLike) -> Path:
    bad = raw / f"{ds.files[2]}.gz"
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    return bad


def _train_counts_differ(raw: Path, ds: real.MnistLike) -> Path:
    write_idx_gz(raw / ds.files[1], upright_digits(25, 1)[1])  # 25 labels for 30 images
    return raw / ds.files[0]


def _test_counts_differ(raw: Path, ds: real.MnistLike) -> Path:
    write_idx_gz(raw / ds.files[2], upright_digits(12, 1)[0])  # 12 images for 10 labels
    return raw / ds.files[2]


MNIST_CASES = {
    "not gzip": (_not_gzip, "is not a readable gzip file"),
    "gzip cut short": (_gzip_cut_short, "is not a readable gzip file"),
    "train counts differ": (_train_counts_differ, "holds 30 images but"),
    "test counts differ": (_test_counts_differ, "holds 12 images but"),
}


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.delenv("RAYSWEEP_DATA", raising=False)
    (tmp_path / "data").mkdir()
    return tmp_path / "data"


@pytest.mark.parametrize("ds", [real.EMNIST, real.FMNIST], ids=lambda d: d.name)
@pytest.mark.parametrize("case", sorted(MNIST_CASES))
def test_bad_mnist_like_files(case, ds, root, cache_dir, capsys):
    make_mnist_like(root, ds)
    raw = root / ds.folder / "raw"
    spoil, phrase = MNIST_CASES[case]
    bad = spoil(raw, ds)
    before = tree(raw)
    assert main(["data", "load", ds.name, "--data-root", str(root)]) == 2
    err = one_error_line(capsys, phrase, f"raysweep data fetch {ds.name}")
    assert bad.name in err
    new = set(tree(raw)) - set(before)
    # good .gz files may be unpacked beside themselves (complete copies); no temporary file, and
    # no unpacked copy of the bad one
    assert all(not p.startswith(".") and f"{p}.gz" in before for p in new), new
    assert bad.name.removesuffix(".gz") not in new or not bad.name.endswith(".gz")


# --- CelebA JPEGs (decoded once, while the cache entry is built) --------------------------------
def _garbage(path: Path) -> None:
    path.write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


@pytest.mark.parametrize("spoil", [_garbage, _truncated], ids=["garbage", "truncated"])
def test_corrupt_celeba_jpeg(spoil, root, cache_dir, capsys):
    names = make_celeba(root)
    bad = root / "celeba" / "img_align_celeba" / names[3]
    spoil(bad)
    assert main(["data", "load", "celeba", "--data-root", str(root)]) == 2
    one_error_line(capsys, f"{bad} is not a readable JPEG", "raysweep data fetch celeba")
    assert tree(cache_dir / "celeba") == []  # no entry, not even a temporary one
    make_celeba(root.parent / "fresh")  # the same folder with good files loads (no stale entry)
    shutil.copy(root.parent / "fresh" / "celeba" / "img_align_celeba" / names[3], bad)
    assert main(["data", "load", "celeba", "--data-root", str(root)]) == 0


# --- fonts and the cache folder ----------------------------------------------------------------
@pytest.fixture
def one_font(tmp_path) -> Path:
    from raysweep.data.fonts import default_fonts_dir

    folder = tmp_path / "fonts"
    folder.mkdir()
    shutil.copy(default_fonts_dir() / "DejaVuSans.ttf", folder / "DejaVuSans.ttf")
    return folder


def test_unreadable_font_file(one_font, cache_dir, capsys):
    bad = one_font / "locked.ttf"
    bad.write_bytes(b"x")
    os.chmod(bad, 0)
    if os.access(bad, os.R_OK):  # root reads any file: use one no process can read instead
        bad.unlink()
        bad.symlink_to("/proc/self/mem")  # a regular file whose reads at offset 0 fail (EIO)
    assert main(["data", "fonts", "--fonts-dir", str(one_font), "--max-fonts", "1"]) == 2
    one_error_line(capsys, f"font file {bad} cannot be read", "fix its permissions")
    assert not cache_dir.exists()


@pytest.mark.parametrize("command", ["fonts", "celeba"])
def test_unwritable_cache_folder(command, one_font, root, tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("RAYSWEEP_CACHE", str(blocker / "cache"))  # mkdir under a file fails, also for root
    if command == "fonts":
        argv = ["data", "fonts", "--fonts-dir", str(one_font), "--max-fonts", "1", "--train-size", "20",
                "--test-size", "10"]
    else:
        make_celeba(root)
        argv = ["data", "load", "celeba", "--data-root", str(root)]
    assert main(argv) == 2
    one_error_line(capsys, f"cache folder {blocker / 'cache'}", "is not writable", "RAYSWEEP_CACHE")
