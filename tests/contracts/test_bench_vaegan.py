"""benchmarks/bench_vaegan.py: bad arguments are one UserError line before any work. Its smoke
run (every key, and the ratio being the quotient of the two printed speeds) is checked in
tests/contracts/test_benchmarks.py, on the one smoke run every benchmark gets; here the control
that the quotient check can fail."""
import importlib.util
from pathlib import Path

import pytest

from raysweep._core.errors import UserError
from test_benchmarks import ratio_is_the_quotient

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_vaegan.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_vaegan", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_ratio_check_fails_on_a_ratio_that_is_not_the_quotient():
    good = {"images_per_s_full": 300.0, "images_per_s_smoke": 1800.0, "steps_per_s": 9.0, "bare_steps_per_s": 10.0,
            "vaegan_step_ratio_vs_bare_loop": 0.9}
    ratio_is_the_quotient(good)
    with pytest.raises(AssertionError):
        ratio_is_the_quotient({**good, "vaegan_step_ratio_vs_bare_loop": 1.1})
    with pytest.raises(AssertionError):  # a speed of 0: nothing ran
        ratio_is_the_quotient({**good, "images_per_s_full": 0.0})


@pytest.mark.parametrize("argv, phrase", [(["--steps", "0"], "--steps 0"), (["--rounds", "0"], "--rounds 0")])
def test_check_refuses_nothing_to_time(bench, argv, phrase):
    with pytest.raises(UserError, match=phrase):
        bench.check(bench.parse_args(argv))
