"""Every spec in sweeps/ passes all of its checks (names, parameters, and the data sizes it
implies), so a spec that cannot run never ships. No real data or font packages are needed:

- FONTS specs without `max_fonts` load the bundled fonts for real (their real sizes).
- FONTS specs with `max_fonts: M` (FONTS-1000 from `make fonts`) run the real fonts loader on a
  stand-in folder of the bundled fonts, then report the size M fonts give by the loader's own
  rule (FontsConfig.sizes: 96/16 images per glyph, 960k/160k for 1000 fonts, the paper's).
- EMNIST, F-MNIST and CelebA load tiny files in each real on-disk format (tests/data_files.py's
  builders) through their real loaders, then report their documented split sizes.
The stand-ins change only the sizes, by views that take no memory; a test below checks that the
size checks still bite under them.
"""
from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import yaml

from raysweep.data import fonts_dataset as fd
from raysweep.data import real
from raysweep.data.batch import Split
from raysweep.data.dataset import DATASETS
from raysweep.data.fonts import default_fonts_dir
from raysweep._core.errors import UserError
from raysweep.resolve.validate import load_lambda_spec, load_spec
from data_files import make_celeba, make_mnist_like

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "sweeps").glob("*.yaml"))
# documented split sizes (raysweep/data/real.py and the paper, Sec. 3.1)
DOCUMENTED = {"emnist": (240_000, 40_000), "fmnist": (60_000, 10_000), "celeba": (182_637, 19_962)}
STAND_IN_SIZES = {"train_size": 200, "test_size": 50}  # what the stand-in FONTS actually renders


def _stretch(split: Split, n: int, n_classes: int) -> Split:
    """A split of n rows that costs no memory: row 0 repeated (a view), labels cycling classes."""
    view = lambda t: None if t is None else t[:1].expand(n, *t.shape[1:])  # noqa: E731
    return Split(x=view(split.x), y=torch.arange(n) % n_classes, z=view(split.z), ctx=view(split.ctx))


def _documented(ds, n_train: int, n_test: int):
    return replace(ds, train=_stretch(ds.train, n_train, ds.n_classes), test=_stretch(ds.test, n_test, ds.n_classes))


@pytest.fixture
def stand_ins(tmp_path, monkeypatch):
    """Registry factories that run the real loaders on stand-in data, sized as documented."""
    data = tmp_path / "data"
    make_mnist_like(data, real.EMNIST)
    make_mnist_like(data, real.FMNIST)
    make_celeba(data)
    monkeypatch.setenv("RAYSWEEP_DATA", str(data))
    monkeypatch.setenv("RAYSWEEP_CACHE", str(tmp_path / "cache"))
    fonts = tmp_path / "fonts"
    shutil.copytree(default_fonts_dir(), fonts)
    entries = DATASETS._entries  # the registry has no public way to swap a factory

    def wrap(name, stand_in):
        entry = entries[name]
        # functools.wraps: the validator still sees the real factory's signature (option names)
        monkeypatch.setitem(entries, name, replace(entry, factory=functools.wraps(entry.factory)(
            lambda root=None, cache_dir=None, **options: stand_in(entry.factory, options))))

    def fonts_1000(real_factory, options):
        m = options.get("max_fonts")
        if m is None:
            return real_factory(**options)
        config = fd.check_options({**options, "fonts_dir": str(fonts), "max_fonts": None})  # types, preset
        ds = real_factory(**{**options, "fonts_dir": str(fonts), "max_fonts": None, **STAND_IN_SIZES})
        return _documented(ds, *config.sizes(m))

    wrap("fonts", fonts_1000)
    # the data-free check looks at the named folder too: point it at the stand-in, so the machine's
    # own /usr/share/fonts (absent, or a handful of system fonts) never decides these tests
    real_check = entries["fonts"].check
    monkeypatch.setitem(entries, "fonts", replace(entries["fonts"], check=functools.wraps(real_check)(
        lambda root=None, cache_dir=None, **options: real_check(
            root, cache_dir, **{**options, **({"fonts_dir": str(fonts), "max_fonts": None}
                                               if options.get("max_fonts") is not None else {})}))))
    for name, sizes in DOCUMENTED.items():
        wrap(name, lambda real_factory, options, sizes=sizes: _documented(real_factory(**options), *sizes))
    return tmp_path


def _is_lambda(path: Path) -> bool:
    return "kind" in yaml.safe_load(path.read_text())


def test_every_dataset_of_a_spec_has_a_stand_in():
    names = {yaml.safe_load(p.read_text())["dataset"]["name"] for p in SPECS}
    assert names <= {"fonts", *DOCUMENTED} and len(SPECS) >= 14


def test_fonts_1000_is_the_papers_size():
    assert fd.FontsConfig(max_fonts=1000).sizes(1000) == (960_000, 160_000)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_shipped_spec_passes_every_check(path, stand_ins):
    if _is_lambda(path):
        spec = load_lambda_spec(path)
        ds = DATASETS.build(spec.dataset.name, **spec.dataset.options)  # the options load for real
        assert len(ds.train) > 0
    else:
        spec = load_spec(path)  # names, parameters, N and attacked samples against the data
        assert spec.grid.n and spec.strategies


HEADER_COST = re.compile(r"estimates ([\d.]+) GPU-hours, ([\d.]+) CPU-hours")


@pytest.mark.parametrize("path", [p for p in SPECS if "Fig." in p.read_text().splitlines()[0]], ids=lambda p: p.name)
def test_a_figure_specs_header_states_its_trials_and_the_dry_runs_cost(path, stand_ins):
    """The header's trial count and cost are what `--dry-run` prints now, so a
    recalibrated cost model or a changed grid cannot leave a stale figure in a shipped spec."""
    from raysweep.resolve.plan import plan_lines
    from raysweep.resolve.validate import load_sweep

    header = "\n".join(line for line in path.read_text().splitlines() if line.startswith("#"))
    spec, trials = load_sweep(str(path))
    lines = plan_lines(spec, trials, set(), None)
    cost = next(line for line in lines if line.startswith("estimated cost"))
    stated = HEADER_COST.search(header)
    assert stated, f"{path.name}: the header has no 'estimates X GPU-hours, Y CPU-hours'"
    assert f"{stated.group(1)} GPU-hours, {stated.group(2)} CPU-hours" in cost, (path.name, cost)
    assert re.search(rf"\b{len(trials)} trials\b", header), (path.name, len(trials))


def test_the_size_checks_still_bite_under_the_stand_ins(stand_ins, tmp_path):
    spec = yaml.safe_load((ROOT / "sweeps" / "fonts-paper.yaml").read_text())
    spec["grid"]["n"] = [960_001]
    bad = tmp_path / "too-big.yaml"
    bad.write_text(yaml.safe_dump(spec))
    with pytest.raises(UserError, match="960001 exceeds the 960000 training images"):
        load_spec(bad)
    spec = yaml.safe_load((ROOT / "sweeps" / "emnist-paper.yaml").read_text())
    spec["evaluate"]["attacks"][0]["samples"] = 40_001
    bad.write_text(yaml.safe_dump(spec))
    with pytest.raises(UserError, match="40001 exceeds the 40000 test images"):
        load_spec(bad)


@pytest.mark.parametrize("folder", ["missing", "few"])
def test_paper_spec_without_the_fonts_stops_with_one_line_naming_make_fonts(folder, tmp_path):
    fonts_dir = tmp_path / folder
    if folder == "few":  # a machine with some fonts but not the paper's set
        shutil.copytree(default_fonts_dir(), fonts_dir)
    spec = yaml.safe_load((ROOT / "sweeps" / "fonts-paper.yaml").read_text())
    spec["dataset"]["options"]["fonts_dir"] = str(fonts_dir)
    path = tmp_path / "fonts-paper.yaml"
    path.write_text(yaml.safe_dump(spec))
    env = {"RAYSWEEP_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "raysweep.cli", "sweep", str(path), "--dry-run"],
                       capture_output=True, text=True, env=env, timeout=120)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert lines[0].startswith("raysweep: error:") and "run `make fonts`" in lines[0]
    assert "exceeds" not in lines[0]  # not "N larger than the data"
