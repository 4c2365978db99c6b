"""FONTS: rendering prototypes from a font folder, generating the data set, and its cache."""
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from raysweep.cli import main
from raysweep.data import fonts_dataset as fd
from raysweep.data import load_dataset
from raysweep.data.decoder import TrueDecoder
from raysweep.data.fonts import default_fonts_dir, load_fonts
from raysweep.data.transform import PRESETS
from raysweep._core.errors import UserError

GOOD = ["DejaVuSans.ttf", "DejaVuSerif-Bold.ttf", "cmr10.ttf"]


def by_content(names):
    """Font-index order: by the sha256 of the file's bytes, not by name."""
    return sorted(names, key=lambda n: hashlib.sha256((default_fonts_dir() / n).read_bytes()).hexdigest())


@pytest.fixture(scope="module")
def font_dir(tmp_path_factory):
    """Three usable fonts plus one of each kind of unusable font."""
    d = tmp_path_factory.mktemp("fonts")
    src = default_fonts_dir()
    for name in GOOD:
        shutil.copy(src / name, d / name)
    shutil.copy(src / "DejaVuSansDisplay.ttf", d / "DejaVuSansDisplay.ttf")  # lacks A..J
    shutil.copy(src / "cmex10.ttf", d / "cmex10.ttf")  # symbol font
    (d / "sub").mkdir()
    shutil.copy(src / "DejaVuSans.ttf", d / "sub" / "zcopy.otf")  # duplicate, found recursively
    (d / "broken.ttf").write_bytes(b"not a font at all" * 10)
    (d / "README.txt").write_text("ignored: not a font suffix")
    return d


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "raysweep.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_bad_fonts_are_skipped_with_one_warning_each(font_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="raysweep.data.fonts"):
        fs = load_fonts(font_dir)
    assert fs.names == by_content(GOOD)
    reasons = dict(fs.skipped)
    assert set(reasons) == {"DejaVuSansDisplay.ttf", "broken.ttf", "cmex10.ttf", "sub/zcopy.otf"}
    assert "lacks the glyph" in reasons["DejaVuSansDisplay.ttf"]
    assert "cannot be loaded" in reasons["broken.ttf"]
    assert "symbol font" in reasons["cmex10.ttf"]
    assert "DejaVuSans.ttf" in reasons["sub/zcopy.otf"]
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 4


def test_prototypes_are_centred_white_on_black(font_dir):
    p = load_fonts(font_dir).prototypes.astype(np.float64) / 255
    assert p.shape == (3, 10, 56, 56)
    assert p.max() == 1.0 and p[..., 0, :].max() == 0 and p[..., :, 0].max() == 0  # black border
    ys, xs = np.nonzero(p[0, 0] > 0)  # the ink box of 'A' sits in the middle
    assert abs((ys.min() + ys.max()) / 2 - 27.5) <= 1 and abs((xs.min() + xs.max()) / 2 - 27.5) <= 1


def test_bundled_fonts_are_usable():
    fs = load_fonts()
    assert len(fs.names) >= 10
    assert len(fs.names) + len(fs.skipped) == len(list(default_fonts_dir().glob("*.ttf")))


def test_folders_without_usable_fonts_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no .ttf/.otf files"):
        fd.cache_key(fd.FontsConfig(fonts_dir=str(tmp_path)))
    (tmp_path / "junk.ttf").write_bytes(b"junk")
    with pytest.raises(UserError, match="no usable font"):
        load_fonts(tmp_path)
    with pytest.raises(UserError, match="does not exist; run `make fonts`"):
        load_fonts(tmp_path / "missing")
    with pytest.raises(UserError, match="is not a folder"):
        load_fonts(tmp_path / "junk.ttf")


def test_dataset_default_sizes_labels_and_box(font_dir, cache_dir):
    ds = load_dataset("fonts", fonts_dir=str(font_dir), preset="moderate")
    assert (len(ds.train), len(ds.test)) == (3 * 10 * 96, 3 * 10 * 16)
    assert ds.image_shape == (1, 28, 28) and ds.train.x.dtype == torch.uint8
    assert torch.equal(ds.train.y, ds.train.ctx[:, 1])
    counts = torch.bincount(ds.train.ctx[:, 0] * 10 + ds.train.ctx[:, 1])
    assert torch.all(counts == 96)  # every (font, class) equally often
    lo, hi = PRESETS["moderate"].box()
    assert torch.all(ds.test.z >= lo) and torch.all(ds.test.z <= hi)
    assert ds.meta["preset"] == "moderate" and ds.meta["fonts"] == by_content(GOOD)
    assert ds.meta["theta_lower"] == pytest.approx(list(PRESETS["moderate"].lower))
    assert ds.meta["prototypes"].shape == (3, 10, 56, 56)


def test_images_are_the_decoder_applied_to_the_latent_codes(font_dir, cache_dir):
    ds = load_dataset("fonts", fonts_dir=str(font_dir), train_size=64, test_size=32)
    dec = TrueDecoder(ds.meta["prototypes"])
    x = dec.render_uint8(ds.test.z, ds.test.ctx)
    assert torch.equal(x, ds.test.x)


def test_generation_is_deterministic_in_the_seed(font_dir, tmp_path):
    opts = dict(fonts_dir=str(font_dir), train_size=200, test_size=50)
    a = load_dataset("fonts", cache_dir=str(tmp_path / "a"), seed=5, **opts)
    b = load_dataset("fonts", cache_dir=str(tmp_path / "b"), seed=5, **opts)
    c = load_dataset("fonts", cache_dir=str(tmp_path / "a"), seed=6, **opts)
    assert a.data_hash == b.data_hash != c.data_hash
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.z, b.test.z)
    assert not torch.equal(a.train.z, c.train.z)
    # the test split does not depend on the train size
    d = load_dataset("fonts", cache_dir=str(tmp_path / "a"), seed=5, fonts_dir=str(font_dir), train_size=100, test_size=50)
    assert torch.equal(a.test.z, d.test.z)


def test_second_call_reuses_the_cache(font_dir, cache_dir, monkeypatch):
    opts = dict(fonts_dir=str(font_dir), train_size=100, test_size=20)
    first = load_dataset("fonts", **opts)
    assert first.meta["built_now"]
    images = os.path.join(first.meta["cache_path"], "train_images.npy")
    mtime = os.stat(images).st_mtime_ns

    def fail(*a, **k):
        raise AssertionError("regenerated although cached")

    monkeypatch.setattr(fd, "_build", fail)
    second = load_dataset("fonts", **opts)
    assert not second.meta["built_now"] and os.stat(images).st_mtime_ns == mtime
    assert torch.equal(first.train.x, second.train.x)
    assert os.listdir(cache_dir / "fonts") == [os.path.basename(first.meta["cache_path"])]  # no temp leftovers


def test_two_processes_generating_at_once_agree(font_dir, tmp_path):
    # a file barrier after the (slow) imports so both processes generate at the same moment
    code = textwrap.dedent(f"""
        import hashlib, os, sys, time, torch
        torch.set_num_threads(1)
        from raysweep.data import load_dataset
        open(os.path.join({str(tmp_path)!r}, "ready-" + sys.argv[1]), "w").close()
        while len([f for f in os.listdir({str(tmp_path)!r}) if f.startswith("ready-")]) < 2:
            time.sleep(0.005)
        ds = load_dataset("fonts", fonts_dir={str(font_dir)!r}, train_size=3000, test_size=500)
        print(hashlib.sha256(ds.train.x.numpy().tobytes() + ds.test.z.numpy().tobytes()).hexdigest())
    """)
    env = {**os.environ, "RAYSWEEP_CACHE": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(i)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
             for i in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    assert outs[0][0] == outs[1][0] and len(outs[0][0].strip()) == 64
    entries = os.listdir(tmp_path / "fonts")  # one complete entry, the loser's temp copy removed
    assert len(entries) == 1 and not entries[0].startswith(".tmp")


@pytest.mark.parametrize("args, message", [
    (["--fonts-dir", "{missing}"], "does not exist"),
    (["--preset", "extreme"], "unknown preset"),
    (["--train-size", "0"], "train_size must be a positive integer"),
    (["--max-fonts", "50"], "fewer than max_fonts=50; run `make fonts`"),
])
def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys, args, message):
    args = [a.format(missing=tmp_path / "missing") for a in args]
    assert main(["data", "fonts", *args, "--cache-dir", str(tmp_path / "c")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("raysweep: error:") and message in lines[0]


def test_cli_process_exits_2_with_one_line_for_an_empty_fonts_folder(tmp_path):
    r = _cli("data", "fonts", "--fonts-dir", str(tmp_path), "--cache-dir", str(tmp_path / "c"))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("raysweep: error: no .ttf/.otf files")


def test_cli_generates_and_summarises(font_dir, tmp_path, capsys):
    args = ["data", "fonts", "--fonts-dir", str(font_dir), "--train-size", "50", "--test-size", "10",
            "--cache-dir", str(tmp_path)]
    r = _cli(*args)
    assert r.returncode == 0, r.stderr
    assert "fonts used: 3  skipped: 4  (generated)" in r.stdout and "train: 50  test: 10" in r.stdout
    assert len(r.stderr.strip().splitlines()) == 4  # one warning line per skipped font
    assert main(args) == 0
    assert "reused from cache" in capsys.readouterr().out


def test_unknown_fonts_option_is_user_error(font_dir, cache_dir):
    with pytest.raises(UserError, match="unknown fonts option"):
        load_dataset("fonts", fonts_dir=str(font_dir), n_fonts=3)
