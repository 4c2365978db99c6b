"""The FONTS font manifest: content-hash font order, the manifest hash in the data hash,
`raysweep data fonts --check`, and the one-line errors for unusable font options."""
import json
import shutil

import pytest

from raysweep.cli import main
from raysweep.data import fonts_dataset as fd
from raysweep.data import load_dataset
from raysweep.data.fonts import default_fonts_dir, load_fonts
from raysweep.data.fonts_manifest import candidate_fonts, manifest_hash, read_manifest
from raysweep._core.errors import UserError

FONTS = ["DejaVuSans.ttf", "DejaVuSerif-Bold.ttf", "cmr10.ttf", "DejaVuSansMono.ttf"]
SIZES = dict(train_size=60, test_size=20)


def _folder(root, layout):
    """Copy bundled fonts to root under the given relative names: {source name: new name}."""
    for src, dst in layout.items():
        (root / dst).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(default_fonts_dir() / src, root / dst)
    return root


@pytest.fixture
def two_orders(tmp_path):
    """The same four fonts twice: once flat by name, once renamed and nested so that path order
    is reversed."""
    a = _folder(tmp_path / "a", {f: f for f in FONTS})
    b = _folder(tmp_path / "b", {f: f"{'zyxw'[i]}/{9 - i}-{f.lower()}" for i, f in enumerate(FONTS)})
    return a, b


def test_same_fonts_in_another_folder_order_give_the_same_hashes(two_orders, cache_dir):
    a, b = two_orders
    fa, fb = load_fonts(a), load_fonts(b)
    assert [r.sha256 for r in fa.manifest] == [r.sha256 for r in fb.manifest]
    assert [r.family for r in fa.manifest] == [r.family for r in fb.manifest]
    assert fa.names != fb.names  # the files are named differently ...
    assert (fa.prototypes == fb.prototypes).all()  # ... and yet are the same fonts at the same indices
    da = load_dataset("fonts", fonts_dir=str(a), **SIZES)
    db = load_dataset("fonts", fonts_dir=str(b), **SIZES)
    assert da.data_hash == db.data_hash == da.meta["content_hash"]
    assert da.meta["fonts_manifest_hash"] == manifest_hash(fa.manifest)


def test_one_changed_font_file_changes_every_hash(two_orders, cache_dir):
    a, _ = two_orders
    before = load_dataset("fonts", fonts_dir=str(a), **SIZES)
    shutil.copy(default_fonts_dir() / "DejaVuSerif.ttf", a / "cmr10.ttf")  # same name, other bytes
    after = load_dataset("fonts", fonts_dir=str(a), **SIZES)
    assert after.meta["fonts_manifest_hash"] != before.meta["fonts_manifest_hash"]
    assert after.data_hash != before.data_hash and after.meta["cache_key"] != before.meta["cache_key"]
    assert "cmr10" not in {r["family"] for r in json.loads(open(after.meta["manifest_path"]).read())["fonts"]}


def test_max_fonts_takes_the_lowest_content_hashes_not_the_first_paths(two_orders):
    a, b = two_orders
    lowest = [f.sha256 for f in candidate_fonts(a)][:2]
    assert [r.sha256 for r in load_fonts(a, max_fonts=2).manifest] == lowest
    assert [r.sha256 for r in load_fonts(b, max_fonts=2).manifest] == lowest


def test_manifest_is_written_next_to_the_cache_in_font_index_order(two_orders, cache_dir):
    a, _ = two_orders
    ds = load_dataset("fonts", fonts_dir=str(a), **SIZES)
    header, records = read_manifest(ds.meta["manifest_path"])
    assert ds.meta["manifest_path"].startswith(ds.meta["cache_path"])
    assert [r.file for r in records] == ds.meta["fonts"] and header["count"] == 4 == ds.meta["prototypes"].shape[0]
    assert header["hash"] == manifest_hash(records) == ds.meta["fonts_manifest_hash"]
    assert {r.family for r in records} >= {"DejaVu Sans", "DejaVu Serif Bold", "cmr10"}


def test_check_says_which_fonts_differ(two_orders, cache_dir, capsys):
    a, b = two_orders
    manifest = load_dataset("fonts", fonts_dir=str(a), **SIZES).meta["manifest_path"]
    assert main(["data", "fonts", "--check", manifest, "--fonts-dir", str(b)]) == 0
    assert "same font set" in capsys.readouterr().out
    (b / "z" / "9-dejavusans.ttf").unlink()
    _folder(b, {"STIXGeneral.ttf": "new/stix.ttf"})
    assert main(["data", "fonts", "--check", manifest, "--fonts-dir", str(b)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line.split(" (")[0] for line in out if line.startswith(("missing here", "only here"))] == \
        ["missing here: DejaVuSans.ttf", "only here: new/stix.ttf"]
    assert out[-1] == "font sets differ: 2 line(s) above"


def test_check_of_a_file_that_is_no_manifest_exits_2(tmp_path, capsys):
    (tmp_path / "m.json").write_text("[1, 2]")
    assert main(["data", "fonts", "--check", str(tmp_path / "m.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a raysweep font manifest" in err[0]


@pytest.mark.parametrize("options, message", [
    ({"max_fonts": "1000"}, "max_fonts must be a positive integer, got '1000'"),
    ({"max_fonts": True}, "max_fonts must be a positive integer"),
    ({"seed": 1.5}, "seed must be an integer"),
    ({"preset": 3}, "preset must be a preset name"),
    ({"fonts_dir": ["/usr"]}, "fonts_dir must be a folder path"),
    ({"fonts_dir": "/nonexistent/fonts"}, "does not exist; run `make fonts`"),
    ({"max_fonts": 1000}, "fewer than max_fonts=1000; run `make fonts`"),
    ({"n_fonts": 3}, "unknown fonts option"),
])
def test_bad_options_are_one_line_user_errors_before_any_work(options, message, monkeypatch):
    monkeypatch.setattr(fd, "cache_key", lambda *a: pytest.fail("hashed fonts despite bad options"))
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace("[", r"\[")) as e:
        load_dataset("fonts", **options)
    assert "\n" not in str(e.value)


def test_too_few_usable_fonts_is_an_error_naming_make_fonts(two_orders, cache_dir):
    a, _ = two_orders
    (a / "broken.ttf").write_bytes(b"not a font" * 20)  # 5 files, 4 usable
    with pytest.raises(UserError, match=r"4 usable fonts \(1 skipped\), fewer than max_fonts=5; run `make fonts`"):
        load_dataset("fonts", fonts_dir=str(a), max_fonts=5, **SIZES)
    assert load_dataset("fonts", fonts_dir=str(a), max_fonts=4, **SIZES).meta["prototypes"].shape[0] == 4
