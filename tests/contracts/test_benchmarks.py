"""Every benchmark script runs (`--smoke`: tiny sizes, seconds each) and prints the figures it
exists to measure as `key: number` lines, so `make bench` cannot silently rot. The figures
themselves are measured at full size by hand, not here (they need an idle machine)."""
from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Optional, Sequence

import pytest

from raysweep._core.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
KEY_NUMBER = re.compile(r"^([A-Za-z0-9_.]+): (-?[0-9.]+(?:e[-+]?\d+)?|nan|inf)$")

# script -> the keys it must print (the figures it exists to measure)
EXPECTED = {
    "bench_fonts": ["fonts_used", "images_per_s", "load_s"],
    "bench_trial_memory": ["trial_rss_mb", "trial_anon_mb"],
    "bench_train": ["ratio_vs_bare_loop"],
    "bench_attacks": ["step_ratio_vs_bare_loop", "early_stop_speedup"],
    # the peer figures print only with the optional [peers] extra; ours always
    "bench_attack_peers": ["success_linf.normal.eps0.3", "seconds_linf.normal.eps0.3", "success_linf_box.normal.eps0.3",
                           "success_apgd_ce.adversarial.eps0.1", "success_apgd_t.adversarial.eps0.03",
                           "mcnemar_p_linf_vs_linf_box_pooled"],
    "bench_class_manifold": ["routing_ratio_vs_mask_loop"],
    # the r lines need spread a smoke run lacks (NaN there), so only the quality and cost figures
    "bench_learned_manifold": ["vaegan_cpu_s_per_class", "recon_ratio_min", "usable_share_min", "inside_bound_mean",
                               "success_learned.n200", "success_learned.onmanifold_true.n200"],
    "bench_vaegan": ["images_per_s_full", "images_per_s_smoke", "steps_per_s", "bare_steps_per_s",
                     "vaegan_step_ratio_vs_bare_loop"],
    "bench_distance": ["examples_per_s"],
    "bench_sweep": ["ratio_vs_sequential", "overhead_per_trial_s"],
    "bench_strategies": ["cost_vs_normal.adversarial", "test_error.normal.n100", "run_time_s"],
    "bench_pack": ["packed_ratio_k1", "attack_packed_ratio_k1", "fused_ratio_k1", "fused_adv_ratio_k1"],
    "bench_compile": ["compile_speedup", "compile_s", "break_even_steps"],
    "bench_cost_model": ["cost.resnet13.28x28x1", "plan_cost.resnet13.28x28x1", "max_plan_error"],
}
# figures whose honest answer can be "never": compiling that is slower than eager never pays for
# itself (CPU, and any noisy smoke run), so inf is a result there, not a broken script
MAY_BE_INF = {"break_even_steps"}
# scripts that start a local Ray (conftest.py runs them in the Ray group)
STARTS_RAY = {"bench_sweep"}


def test_every_benchmark_is_covered():
    assert {p.stem for p in (ROOT / "benchmarks").glob("bench_*.py")} == set(EXPECTED)


@pytest.fixture(scope="module")
def bench_cache(tmp_path_factory):
    """One private data cache for all scripts (FONTS is generated once), never the user's."""
    return str(tmp_path_factory.mktemp("bench-cache"))


# A hang guard, not a speed target: bench_sweep's smoke takes about 180 s on an idle 2-core
# machine and ran past 240 s while other jobs loaded it
SMOKE_TIMEOUT_S = 420


def run_script(script: str, env: dict, cwd: Path, timeout: float = SMOKE_TIMEOUT_S, args: Sequence[str] = ("--smoke",)
               ) -> tuple[Optional[int], str, str]:
    """(exit code, None if it ran past `timeout`; stdout, stderr) of `script args`, waiting on the script alone: output goes to
    files, not pipes, because worker processes a crashed script leaves behind would hold pipes
    open until the timeout (seen once: bench_strategies died of SIGSEGV and the test waited 240 s).
    faulthandler prints the Python stack of such a crash; the script's session is killed after."""
    out, err = cwd / "stdout.txt", cwd / "stderr.txt"
    with out.open("w") as o, err.open("w") as e:
        proc = subprocess.Popen([sys.executable, "-X", "faulthandler", str(ROOT / "benchmarks" / f"{script}.py"), *args],
                                cwd=cwd, env=env, stdout=o, stderr=e, start_new_session=True)
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            returncode = None
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the script, if it hangs, and anything it left
    return returncode, out.read_text(), err.read_text()


def ratio_is_the_quotient(fig: dict[str, float]) -> None:
    """bench_vaegan: every speed is positive (a step that ran), and the ratio is raysweep's speed
    over the bare loop's, both printed beside it."""
    assert all(fig[k] > 0 for k in EXPECTED["bench_vaegan"]), fig
    assert fig["vaegan_step_ratio_vs_bare_loop"] == pytest.approx(fig["steps_per_s"] / fig["bare_steps_per_s"], rel=0.01)


# script -> how its printed figures must relate (checked on the same smoke run as its keys: one
# run per script, because a second test file running the same smoke cost a minute of CPU)
CONSISTENT = {"bench_vaegan": ratio_is_the_quotient}


def smoke_run(script: str, cache: str, workdir: Path) -> tuple[Optional[int], str, str]:
    """`script --smoke` with a private data cache."""
    env = {**os.environ, "RAYSWEEP_CACHE": cache}
    env.setdefault("RAY_AUTH_MODE", "disabled")
    return run_script(script, env, workdir)


def _mark(script: str):
    return pytest.param(script, marks=pytest.mark.ray) if script in STARTS_RAY else script


@pytest.mark.slow
@pytest.mark.parametrize("script", [_mark(s) for s in sorted(EXPECTED)])
def test_benchmark_smoke_prints_its_figures(script, bench_cache, tmp_path):
    returncode, stdout, stderr = smoke_run(script, bench_cache, tmp_path)
    ended = "ran past its timeout" if returncode is None else f"exited with {returncode}"
    assert returncode == 0, f"{script} {ended}:\n{stderr[-3000:]}"
    figures = {m.group(1): float(m.group(2)) for line in stdout.splitlines() if (m := KEY_NUMBER.match(line))}
    for key in EXPECTED[script]:
        assert key in figures, f"{script} printed no '{key}: number' line:\n{stdout[-2000:]}"
        value = figures[key]
        assert not math.isnan(value) and value >= 0, (key, value)
        assert math.isfinite(value) or key in MAY_BE_INF, (key, value)
    if script in CONSISTENT:
        CONSISTENT[script](figures)


# What a default may need that a fresh clone lacks: the line must name how to get it.
EXTRAS = re.compile(r"make fonts|\[peers\]")


def load_benchmark(script: str):
    spec = importlib.util.spec_from_file_location(f"bench_under_test_{script}", ROOT / "benchmarks" / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_benchmark_defaults_are_valid_or_name_the_missing_extra(script, bench_cache, monkeypatch):
    """Each script's defaults pass its own checks (arguments, and the data and device they need)
    on a fresh clone, or fail with a line that names the optional extra to install: running a
    shipped script with no arguments never ends in a traceback."""
    monkeypatch.setenv("RAYSWEEP_CACHE", bench_cache)
    module = load_benchmark(script)
    try:
        module.check(module.parse_args([]))
    except UserError as e:
        assert EXTRAS.search(str(e)), f"{script}'s defaults fail without naming an extra: {e}"


@pytest.mark.parametrize("script, args", [("bench_attacks", ["--fonts", "100000"]),
                                          ("bench_trial_memory", ["--fonts-dir", "/nonexistent-fonts"]),
                                          ("bench_distance", ["--k", "0"]),
                                          ("bench_learned_manifold", ["--n", "250,0"]),
                                          ("bench_learned_manifold", ["--strategies", "adversarial"]),
                                          ("bench_learned_manifold", ["--dataset", "fmnist", "--strategies",
                                                                      "normal,onmanifold_true"])])
def test_benchmark_bad_arguments_exit_2_with_one_line(script, args, tmp_path):
    """The control: arguments the checks must refuse give one line and exit code 2, before any work."""
    returncode, stdout, stderr = run_script(script, dict(os.environ), tmp_path, timeout=120, args=args)
    assert returncode == 2, (returncode, stderr[-2000:])
    assert len(stderr.strip().splitlines()) == 1 and stderr.startswith(f"{script}: error: "), stderr
