"""Each sample's smallest successful eps by bisection with APGD (raysweep/attacks/min_eps.py):
known answers on a linear binary classifier, whose minimal perturbation is exact (L-inf:
|w.x + b| / ||w||_1, L2: |w.x + b| / ||w||_2, with inputs where the [0, 1] box does not bind),
censoring, the records' start, the spec check, the trial's columns and unchanged trial ids."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from raysweep.attacks import ATTACKS
from raysweep.attacks.min_eps import MinEps, found_in_records, min_eps
from raysweep.data.batch import Batch
from raysweep._core.errors import UserError

D = 16  # 1 x 4 x 4 images


def linear_binary(seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    """Logit difference f0 - f1 = w.(x - 0.5): class 0 where positive; returns (model, w)."""
    w = torch.randn(D, generator=torch.Generator().manual_seed(seed))
    model = nn.Sequential(nn.Flatten(), nn.Linear(D, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.stack([w / 2, -w / 2]))
        model[1].bias.copy_(torch.stack([-w.sum() / 4, w.sum() / 4]))
    return model, w


def toy(w: torch.Tensor, offsets: list[float], spread: float, norm: str) -> tuple[Batch, np.ndarray]:
    """x = 0.5 + c * u for unit u along w's steepest direction (L-inf sign(w), L2 w / ||w||_2) plus
    noise across; labels the clean prediction. Returns the batch and the exact minimum per sample."""
    g = torch.Generator().manual_seed(1)
    u = w.sign() if norm == "linf" else w / w.norm()
    x = 0.5 + torch.tensor(offsets)[:, None] * u + spread * (torch.rand(len(offsets), D, generator=g) * 2 - 1)
    margin = (x - 0.5) @ w
    dual = w.abs().sum() if norm == "linf" else w.norm()
    y = (margin < 0).long()
    return Batch(x.view(-1, 1, 4, 4), y, idx=torch.arange(len(offsets))), (margin.abs() / dual).numpy()


@pytest.mark.parametrize("name, eps, spread", [("apgd_ce", 0.1, 0.05), ("apgd_ce_l2", 0.3, 0.02)])
def test_bisection_finds_the_exact_minimum_of_a_linear_classifier(name, eps, spread):
    model, w = linear_binary()
    norm = "linf" if name == "apgd_ce" else "l2"
    # exact minima spread over (0, eps); box: |x - 0.5| + the move stays well inside [0, 1]
    offsets = [eps * c for c in (0.1, -0.2, 0.35, -0.5, 0.6, -0.75, 0.85, 0.95)]
    batch, exact = toy(w, offsets, spread, norm)
    exact_inside = exact < eps - 1e-3
    assert exact_inside.sum() >= 6 and batch.x.min() > 0.15 and batch.x.max() < 0.85
    steps = 7
    attack = ATTACKS.build(name, eps=eps, iterations=10)
    got = min_eps(attack, model, batch, steps, torch.Generator().manual_seed(0))
    assert got.correct.all() and not got.censored[exact_inside].any()
    found = got.eps[exact_inside]
    # an adversarial example bounds the minimum from above; the bracket is eps / 2^steps wide
    assert (found >= exact[exact_inside] - 1e-5).all()
    assert (found <= exact[exact_inside] + eps / 2**steps + 1e-5).all()


def test_apgd_steps_from_each_rows_own_eps():
    """Algorithm 1's first step is 2 eps: per row where the problem gives rows their own eps."""
    from raysweep.attacks.apgd_loop import APGDLoopConfig, _first_step

    var0 = torch.zeros(2, 3)
    assert _first_step({"eps": torch.tensor([0.05, 0.2])}, APGDLoopConfig(eps=0.3), 2, var0).tolist() == \
        pytest.approx([0.1, 0.4])
    assert _first_step({}, APGDLoopConfig(eps=0.3), 2, var0).tolist() == pytest.approx([0.6, 0.6])


@pytest.mark.parametrize("name, eps", [("apgd_ce", 0.05), ("apgd_ce_l2", 0.5), ("apgd_t", 0.05)])
def test_one_eps_for_every_row_is_the_attack_itself(name, eps):
    """Control of the per-row problem: every row at the attack's own eps finds what the registered
    attack finds (same starts from the same generator, same steps), sample for sample."""
    from attack_toys import tiny_model, toy_batch

    from raysweep.attacks.base import eval_mode
    from raysweep.attacks.fast_model import attack_model
    from raysweep.attacks.min_eps import broken_at

    model, batch = tiny_model(4), toy_batch(4, n=24)
    attack = ATTACKS.build(name, eps=eps, iterations=20, restarts=2)
    records = attack(model, batch, generator=torch.Generator().manual_seed(3)).records
    with eval_mode(model):
        norms = broken_at(attack, attack_model(model), batch, torch.full((24,), eps), torch.Generator().manual_seed(3))
    found = found_in_records(records, batch, attack.config.norm)
    assert 0 < torch.isfinite(found).sum() < 24
    assert torch.isfinite(norms).tolist() == torch.isfinite(found).tolist()
    assert norms[torch.isfinite(norms)].tolist() == pytest.approx(found[torch.isfinite(found)].tolist(), abs=1e-5)


def test_more_steps_tighten_the_bracket():
    """Control: with 2 steps the answer may sit up to eps / 4 above the minimum, with 8 it may not."""
    model, w = linear_binary()
    batch, exact = toy(w, [0.013, -0.027, 0.041, -0.066, 0.081], 0.0, "linf")
    attack = ATTACKS.build("apgd_ce", eps=0.1, iterations=5)
    coarse, fine = (min_eps(attack, model, batch, s, torch.Generator().manual_seed(0)).eps for s in (2, 8))
    assert np.abs(coarse - exact).max() > 0.1 / 2**8 + 1e-5 and np.abs(fine - exact).max() <= 0.1 / 2**8 + 1e-5


def test_censored_and_misclassified_samples():
    model, w = linear_binary()
    batch, exact = toy(w, [0.03, 0.15, -0.2, 0.05], 0.0, "linf")  # minima 0.03, 0.15, 0.2, 0.05 at eps 0.1
    batch.y[3] = 1 - batch.y[3]  # misclassified before any attack
    got = min_eps(ATTACKS.build("apgd_ce", eps=0.1, iterations=5), model, batch, 6, torch.Generator().manual_seed(0))
    assert got.correct.tolist() == [True, True, True, False]
    assert got.censored.tolist() == [False, True, True, False]
    assert got.eps[1] == got.eps[2] == pytest.approx(0.1) and got.eps[3] == 0.0
    m = got.metrics()
    assert m["n_censored"] == 2 and m["median_min_eps"] == pytest.approx(0.1)
    assert m["mean_min_eps"] == pytest.approx((got.eps[0] + 0.2) / 3)


def test_metrics_known_answer():
    m = MinEps(np.array([0.0, 0.1, 0.2, 0.3, 0.3]), np.array([False, True, True, True, True]),
               np.array([False, False, False, True, True]), 0.3).metrics()
    assert m == {"median_min_eps": pytest.approx(0.25), "mean_min_eps": pytest.approx(0.225), "n_censored": 2}
    empty = MinEps(np.zeros(2), np.zeros(2, bool), np.zeros(2, bool), 0.3).metrics()
    assert np.isnan(empty["median_min_eps"]) and np.isnan(empty["mean_min_eps"]) and empty["n_censored"] == 0


def test_the_records_start_gives_the_same_answer():
    """The trial starts from the attack's own records at eps instead of running it again."""
    model, w = linear_binary()
    batch, _ = toy(w, [0.02, -0.045, 0.07, 0.15], 0.03, "linf")
    attack = ATTACKS.build("apgd_ce", eps=0.1, iterations=5)
    result = attack(model, batch, generator=torch.Generator().manual_seed(0))
    start = found_in_records(result.records, batch, "linf")
    assert torch.isfinite(start).tolist() == [True, True, True, False]
    run = lambda found: min_eps(attack, model, batch, 6, torch.Generator().manual_seed(0), found)  # noqa: E731
    assert run(start).eps == pytest.approx(run(None).eps, abs=0.1 / 2**6)


def test_only_apgd_attacks_take_min_eps_steps():
    from raysweep.config import parse_spec
    from raysweep.resolve.validate import validate_and_resolve

    raw = {"name": "t", "dataset": {"name": "fonts"}, "grid": {"n": [10], "seed": [1]}, "strategies": [{"name": "normal"}],
           "evaluate": {"attacks": [{"name": "linf", "min_eps_steps": 4}]}}
    with pytest.raises(UserError, match=r"evaluate.attacks\[0\].min_eps_steps: min_eps_steps needs an APGD attack"):
        validate_and_resolve(parse_spec(raw), "test", with_data=False)[0]
    raw["evaluate"]["attacks"][0]["name"] = "apgd_ce"
    assert validate_and_resolve(parse_spec(raw), "test", with_data=False)[0].evaluate.attacks[0].min_eps_steps == 4


def test_trial_ids_change_only_with_min_eps_steps():
    """Left out, the field is not hashed (ids of earlier specs stay); set, it is."""
    from raysweep.config import parse_spec
    from raysweep.resolve.trials import expand
    from raysweep.config.trial_config import result_fields

    raw = {"name": "t", "dataset": {"name": "fonts"}, "grid": {"n": [10], "seed": [1]}, "strategies": [{"name": "normal"}],
           "evaluate": {"attacks": [{"name": "apgd_ce"}]}}
    plain = expand(parse_spec(raw))[0]
    assert "min_eps_steps" not in result_fields(plain)["evaluate"]["attacks"][0]
    raw["evaluate"]["attacks"][0]["min_eps_steps"] = 5
    assert expand(parse_spec(raw))[0].trial_id != plain.trial_id


def test_a_tiny_trial_writes_the_min_eps_columns(tmp_path):
    import sweep_fixtures
    from raysweep.config import parse_spec
    from raysweep.resolve.trials import expand
    from raysweep.results.rows import ok_tables
    from raysweep.results.schema import trial_schema
    from raysweep.trial.run import run_trial

    raw = sweep_fixtures.tiny_spec(str(tmp_path), grid={"n": [50], "seed": [1], "arch": ["cnn"]})
    raw["evaluate"] = {"attacks": [{"name": "apgd_ce", "samples": 8, "min_eps_steps": 3, "params": {"iterations": 5}},
                                   {"name": "linf", "samples": 8, "restarts": 1, "params": {"iterations": 3}}]}
    spec = parse_spec(raw)
    cfg = expand(spec)[0]
    out = run_trial(cfg)
    row = out.row
    n_correct, robust = row["apgd_ce.n_correct"], row["apgd_ce.robust_acc"] * row["apgd_ce.n_samples"]
    assert row["apgd_ce.n_censored"] == pytest.approx(robust)  # never broken at eps = robust
    assert 0 <= row["apgd_ce.median_min_eps"] <= 0.3 and 0 <= row["apgd_ce.mean_min_eps"] <= 0.3 and n_correct > 0
    assert not any(k.startswith("linf.") and "min_eps" in k for k in row)
    trials, _ = ok_tables(cfg, row, out.examples, trial_schema(spec))
    assert trials.column("apgd_ce.mean_min_eps").to_pylist() == [pytest.approx(row["apgd_ce.mean_min_eps"])]
    assert trials.schema.field("apgd_ce.n_censored").metadata[b"doc"].startswith(b"correctly classified")
    assert "linf.n_censored" not in trials.schema.names
