"""APGD-CE / APGD-T (Croce & Hein 2020): the schedule and losses are AutoAttack's, early stopping
changes nothing but the work done, and on a small trained FONTS CNN the success matches
pyautoattack's own implementation within 1 point (with a control showing the check can fail)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from attack_toys import tiny_model, toy_batch
from raysweep.attacks import ATTACKS
from raysweep.attacks.apgd_loop import APGDLoopConfig, _checkpoint, dlr
from raysweep.data.batch import Batch

APGD = ["apgd_ce", "apgd_ce_l2", "apgd_t", "apgd_t_l2"]


def test_registered_as_regular_attacks_without_needs():
    for name in APGD:
        entry = ATTACKS.get(name)
        assert entry.family == "regular" and entry.needs is None
    assert ATTACKS.build("apgd_t").config.n_targets == 9
    assert ATTACKS.build("apgd_ce_l2").config.eps == 1.5 and ATTACKS.build("apgd_ce").config.eps == 0.3


def test_checkpoints_are_autoattacks():
    # AutoAttack: first period 22% of the iterations, shrinking by 3% to at least 6%
    assert APGDLoopConfig(iterations=100).checkpoints() == (22, 3, 6)
    assert APGDLoopConfig(iterations=10).checkpoints() == (2, 1, 1)


def test_checkpoint_halves_the_step_and_returns_to_the_best_point_only_where_due():
    n = 3
    st = {"rises": torch.tensor([2.0, 9.0, 9.0]), "reduced": torch.tensor([False, False, True]),
          "check_obj": torch.tensor([0.0, 5.0, 5.0]), "best_obj": torch.tensor([1.0, 5.0, 5.0]),
          "step": torch.full((n,), 0.6), "var": torch.zeros(n, 2), "best_var": torch.ones(n, 2),
          "grad": torch.zeros(n, 2), "best_grad": torch.full((n, 2), 2.0)}
    _checkpoint(st, period=10, rho=0.75)
    # row 0: rose in 2 of 10 steps (condition 1); row 1: no improvement, not halved last time
    # (condition 2); row 2: no improvement but halved last time and rising: left alone
    assert st["step"].tolist() == pytest.approx([0.3, 0.3, 0.6])
    assert st["var"][:, 0].tolist() == [1.0, 1.0, 0.0] and st["grad"][:, 0].tolist() == [2.0, 2.0, 0.0]
    assert st["reduced"].tolist() == [True, True, False] and st["rises"].sum() == 0


def test_dlr_losses_match_the_paper():
    logits = torch.tensor([[3.0, 1.0, 0.0, -1.0]])
    y = torch.tensor([0])
    assert dlr(logits, y, None).item() == pytest.approx(-(3 - 1) / (3 - 0))
    assert dlr(logits, y, torch.tensor([2])).item() == pytest.approx(-(3 - 0) / (3 - 0.5 * (0 - 1)))


@pytest.mark.parametrize("name", APGD)
def test_early_stopping_changes_nothing_but_the_work(name):
    model, batch = tiny_model(4), toy_batch(4, n=12)
    params = dict(eps=0.1 if "l2" not in name else 0.3, iterations=20, restarts=2)
    run = lambda es: ATTACKS.build(name, early_stop=es, **params)(  # noqa: E731
        model, batch, generator=torch.Generator().manual_seed(0), keep_images=True)
    on, off = run(True), run(False)
    assert on.records["success"].any() and not on.records["success"][on.records["correct"]].all()
    for col in ("success", "first_success_iter", "adv_pred", "loss"):
        np.testing.assert_allclose(on.records[col], off.records[col], rtol=1e-5)
    assert torch.allclose(on.x_adv, off.x_adv, atol=1e-6)


def test_more_iterations_never_find_less_and_the_training_variant_stays_in_the_ball():
    model, batch = tiny_model(4), toy_batch(4, n=24)
    rates = [ATTACKS.build("apgd_ce", eps=0.05, iterations=k)(model, batch, generator=torch.Generator().manual_seed(0))
             .metrics()["success_rate_any"] for k in (0, 20)]
    assert rates[1] > rates[0]
    x_adv = ATTACKS.build("apgd_t", eps=0.1, iterations=10, n_targets=2).examples(
        model, batch, generator=torch.Generator().manual_seed(0))
    assert x_adv.shape == batch.x.shape and x_adv.min() >= 0 and x_adv.max() <= 1
    assert float((x_adv - batch.x).abs().max()) <= 0.1 + 1e-6


# -- the oracle: pyautoattack on a small trained FONTS CNN -------------------------------------

ORACLE_MISSING = "pyautoattack is an optional test oracle: pip install -e '.[peers]'"

@pytest.fixture(scope="module")
def fonts_model(tmp_path_factory):
    """A CNN trained normally on a small FONTS (20 fonts, 2000 images, 4 epochs), and its
    correctly classified test images among the first 150. Every test that uses it compares with
    pyautoattack, so without the oracle it skips before training (about a minute of CPU)."""
    pytest.importorskip("pyautoattack.autopgd_base", reason=ORACLE_MISSING)
    import raysweep.training.strategies  # noqa: F401  (registers "normal")
    from raysweep.data import load_dataset
    from raysweep.models.classifiers import build_model
    from raysweep.training.loop import TrainConfig, train
    from raysweep.training.strategy import STRATEGIES, StrategyContext

    ds = load_dataset("fonts", max_fonts=20, train_size=2000, test_size=150,
                      cache_dir=str(tmp_path_factory.mktemp("fonts")))
    model = build_model("cnn", ds.image_shape, ds.n_classes, seed=0)
    train(model, ds.train, STRATEGIES.build("normal", ctx=StrategyContext()), TrainConfig(epochs=4), seed=0,
          device="cpu")
    model.eval()
    batch = ds.test.batch(slice(0, 150))
    with torch.no_grad():
        ok = model(batch.x).argmax(1) == batch.y
    assert ok.sum() >= 60
    return model, batch.x[ok], batch.y[ok]


def _theirs(model, x, y, name: str, eps: float, **kw) -> float:
    autopgd = pytest.importorskip("pyautoattack.autopgd_base", reason=ORACLE_MISSING)
    norm = "L2" if name.endswith("_l2") else "Linf"
    if name.startswith("apgd_t"):
        ref = autopgd.APGDAttack_targeted(model, n_iter=100, norm=norm, eps=eps, seed=0, device="cpu", **kw)
    else:
        ref = autopgd.APGDAttack(model, n_iter=100, norm=norm, eps=eps, seed=0, loss="ce", device="cpu")
    adv = ref.perturb(x, y)
    with torch.no_grad():
        return (model(adv).argmax(1) != y).float().mean().item()


def _ours(model, x, y, name: str, eps: float, **kw) -> float:
    result = ATTACKS.build(name, eps=eps, **kw)(model, Batch(x, y), generator=torch.Generator().manual_seed(0))
    return result.metrics()["success_rate_any"]


@pytest.mark.slow
@pytest.mark.parametrize("name, eps", [("apgd_ce", 0.04), ("apgd_ce_l2", 0.6), ("apgd_t", 0.04)])
def test_success_matches_pyautoattack_within_one_point(fonts_model, name, eps):
    model, x, y = fonts_model
    targets = {"n_targets": 3} if name == "apgd_t" else {}  # 3 of 9 targets keep the test short
    theirs = _theirs(model, x, y, name, eps, **({"n_target_classes": 3} if targets else {}))
    ours = _ours(model, x, y, name, eps, **targets)
    assert 0.05 < theirs < 0.95, "eps should leave both outcomes, or the comparison says nothing"
    assert abs(ours - theirs) <= 0.01, (ours, theirs)


@pytest.mark.slow
def test_the_oracle_check_catches_a_weaker_attack(fonts_model):
    # control: the same comparison fails for a 3-iteration APGD-CE
    model, x, y = fonts_model
    theirs = _theirs(model, x, y, "apgd_ce", 0.04)
    assert theirs - _ours(model, x, y, "apgd_ce", 0.04, iterations=3) > 0.01
