"""benchmarks/bench_vaegan.py: its smoke run prints every key, old and new, as
`key: number`, the ratio against the bare loop is a ratio of the two printed speeds, and bad
arguments are one UserError line before any work."""
import importlib.util
import re
from pathlib import Path

import pytest

from raysweep._core.errors import UserError
from test_benchmarks import SHARED_SMOKE, smoke_run

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_vaegan.py"
KEYS = ("images_per_s_full", "images_per_s_smoke", "steps_per_s", "bare_steps_per_s", "vaegan_step_ratio_vs_bare_loop")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_vaegan", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.xdist_group(SHARED_SMOKE["bench_vaegan"])
def test_smoke_run_prints_every_key(tmp_path):
    """The smoke run test_benchmarks.py checks for the script's expected keys (one run for both files)."""
    returncode, stdout, stderr = smoke_run("bench_vaegan", str(tmp_path / "cache"), tmp_path)
    assert returncode == 0, stderr[-3000:]
    out = dict(re.findall(r"^([a-z_]+): ([0-9.]+)$", stdout, flags=re.M))
    assert set(KEYS) <= set(out)
    assert all(float(out[k]) > 0 for k in KEYS)
    ratio = float(out["steps_per_s"]) / float(out["bare_steps_per_s"])
    assert float(out["vaegan_step_ratio_vs_bare_loop"]) == pytest.approx(ratio, rel=0.01)


@pytest.mark.parametrize("argv, phrase", [(["--steps", "0"], "--steps 0"), (["--rounds", "0"], "--rounds 0")])
def test_check_refuses_nothing_to_time(bench, argv, phrase):
    with pytest.raises(UserError, match=phrase):
        bench.check(bench.parse_args(argv))
