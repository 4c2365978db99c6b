"""benchmarks/gpu_check.py, the script a lent GPU machine runs: its smoke run on
this CPU prints every figure its docstring lists, and where raysweep's dependencies are missing (as on
the device) each part says in one line why it is skipped and the script still ends normally."""
from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
import torch

from test_benchmarks import KEY_NUMBER, ROOT, run_script

SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
FIGURES = ["train_img_per_s_gpu", "train_img_per_s_cpu", "vaegan_steps_per_s_gpu", "attack_rows_per_s_gpu",
           "paper_grid_gpu_hours", "gpu_check_s"] + [
    f"{prefix}_{what}_k{k}" for prefix in ("packed", "packed_adv") for what in ("img_per_s", "ratio") for k in (1, 2)]
# the trial-function figure without Ray: the suite runs the smoke with --no-ray, which keeps it out
# of the serial Ray group (its two-trial Ray sweep cost ~50 s there; sweeps are tested elsewhere)
SWEEP_OK = "trials_without_ray_ok"
# what the device lacks; blocked in sys.modules, an import of it fails as if it were not installed
WITHOUT = "import runpy, sys; sys.modules.update(pydantic=None, ray=None); sys.argv = [sys.argv[1], '--smoke']; " \
          "runpy.run_path(sys.argv[0], run_name='__main__')"


def figures(stdout: str) -> dict[str, float]:
    return {m.group(1): float(m.group(2)) for line in stdout.splitlines() if (m := KEY_NUMBER.match(line))}


@pytest.mark.slow
def test_smoke_prints_every_figure(tmp_path):
    env = {**os.environ, "RAYSWEEP_CACHE": str(tmp_path / "cache")}
    returncode, stdout, stderr = run_script("gpu_check", env, tmp_path, args=("--smoke", "--no-ray"))
    ended = "ran past its timeout" if returncode is None else f"exited with {returncode}"
    assert returncode == 0, f"gpu_check {ended}:\n{stderr[-3000:]}"
    got = figures(stdout)
    for key in FIGURES:
        assert key in got, f"no '{key}: number' line:\n{stdout}"
        assert math.isfinite(got[key]) and got[key] > 0, (key, got[key])
    # a difference of two noisy rates at 2 inner iterations: only its being a number is checked
    assert math.isfinite(got["inner_iteration_cost_gpu"])
    assert got.get(SWEEP_OK) == 1, stdout
    assert "# device: " in stdout
    if not torch.cuda.is_available():
        assert "every *_gpu figure below is measured on the CPU" in stdout


def test_without_pydantic_every_part_is_skipped_with_one_line(tmp_path):
    env = {**os.environ, "RAYSWEEP_CACHE": str(tmp_path / "cache")}
    r = subprocess.run([sys.executable, "-c", WITHOUT, str(SCRIPT)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    skipped = [line for line in r.stdout.splitlines() if line.startswith("# skipped")]
    assert len(skipped) == 6 and all(line.endswith(": pydantic is not installed") for line in skipped), r.stdout
    assert set(figures(r.stdout)) == {"gpu_check_s"}, r.stdout
