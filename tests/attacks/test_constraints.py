"""Every registered attack respects its constraints on random models and inputs (hypothesis),
eps = 0 is a no-op, runs are deterministic, bad input is a UserError."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attack_toys import ToyManifold, tiny_model, toy_batch
from raysweep.attacks import ATTACKS, RECORD_COLUMNS
from raysweep._core.errors import UserError

# Only the attacks raysweep ships: an installed plugin (the example's fgsm) registers entries with
# contracts of its own, and whether it is loaded yet depends on which test module ran first.
NAMES = [e.name for e in ATTACKS if e.factory.__module__.startswith("raysweep.")]
FAST = dict(iterations=4, restarts=2)


def bound_name(name: str) -> str | None:
    """The name of the attack's perturbation bound (eps in image space, eta in latent space)."""
    config = ATTACKS.build(name).config
    return "eps" if hasattr(config, "eps") else ("eta" if hasattr(config, "eta") else None)


def run(name: str, seed: int, **params):
    attack = ATTACKS.build(name, **{**FAST, **params})
    model = tiny_model(seed)
    batch = toy_batch(seed)
    manifold = ToyManifold(seed, class_specific=attack.needs == "class") if attack.needs in ("true", "class", "data") else None
    source = tiny_model(seed + 1) if attack.needs == "source_model" else None
    result = attack(model, batch, manifold=manifold, source_model=source,
                    generator=torch.Generator().manual_seed(seed), keep_images=True)
    return attack, model, batch, manifold, result


def test_registry_has_the_paper_attacks():
    expected = {"linf", "l2", "cw", "onmanifold_true", "onmanifold_class", "onmanifold_data",
                "transform", "transfer", "random_linf", "random_l2", "random_latent",
                "apgd_ce", "apgd_ce_l2", "apgd_t", "apgd_t_l2"}
    assert expected <= set(NAMES)
    assert ATTACKS.get("onmanifold_true").needs == "true" and ATTACKS.get("transfer").needs == "source_model"
    assert {e.family for e in ATTACKS} <= {"regular", "on-manifold", "transformation", "baseline"}


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), bound=st.floats(0.0, 0.6), norm=st.sampled_from(["linf", "l2"]))
def test_outputs_respect_constraints(name, seed, bound, norm):
    params = {}
    key = bound_name(name)
    if key is not None:
        params[key] = bound
    if hasattr(ATTACKS.build(name).config, "norm"):
        params["norm"] = norm
    attack, model, batch, manifold, result = run(name, seed, **params)
    rec = result.records
    assert set(rec) == set(RECORD_COLUMNS)
    assert all(len(v) == len(batch) * attack.config.restarts for v in rec.values())
    x_adv = result.x_adv
    assert x_adv.shape == (attack.config.restarts, len(batch), *batch.x.shape[1:])
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    if name in ("linf", "l2", "random_linf", "random_l2", "transfer") or name.startswith("apgd"):
        delta = (x_adv - batch.x).flatten(2)
        size = delta.abs().amax(2) if attack.config.norm == "linf" else delta.norm(dim=2)
        assert float(size.max()) <= bound + 1e-6
    if manifold is not None or name == "transform":
        valid = rec["valid"]
        assert np.all(rec["latent_norm"][valid] <= bound + 1e-6)
        lower, upper = (manifold.lower, manifold.upper) if manifold is not None else attack.config.box()
        z_adv = result.z_adv.flatten(0, 1)
        assert bool((z_adv >= lower - 1e-6).all() and (z_adv <= upper + 1e-6).all())
    if manifold is not None:
        # on-manifold outputs are decoder outputs of the reported codes, nothing else
        ctx = None if attack.needs != "class" else batch.y.repeat(attack.config.restarts)[:, None]
        assert torch.allclose(x_adv.flatten(0, 1), manifold.decode(z_adv, ctx), atol=1e-6)
    # success means the (target) label changed on a valid sample; records agree with predictions
    assert not (rec["success"] & ~rec["valid"]).any()
    assert np.all(rec["adv_pred"][rec["success"]] != rec["label"][rec["success"]])
    assert np.all(rec["first_success_iter"][rec["success"]] >= 0)


@pytest.mark.parametrize("name", [n for n in NAMES if bound_name(n) is not None])
def test_zero_bound_changes_nothing_and_succeeds_nowhere(name):
    attack, model, batch, manifold, result = run(name, 3, **{bound_name(name): 0.0})
    if manifold is not None:
        z, ctx, _ = manifold.codes(batch)
        reference = manifold.decode(z, ctx)
    else:
        reference = batch.x
    # bilinear resampling at the identity and batched decoders are exact up to round-off
    tol = 1e-5 if name == "transform" else (1e-6 if manifold is not None else 0.0)
    assert torch.allclose(result.x_adv, reference.expand_as(result.x_adv), atol=tol, rtol=0)
    rec = result.records
    assert not rec["success"][rec["correct"]].any()
    assert result.metrics()["success_rate_attempt"] in (0.0,) or np.isnan(result.metrics()["success_rate_attempt"])


@pytest.mark.parametrize("name", NAMES)
def test_same_generator_seed_gives_same_result(name):
    first = run(name, 11)[-1]
    second = run(name, 11)[-1]
    for col in RECORD_COLUMNS:
        np.testing.assert_array_equal(first.records[col], second.records[col])
    assert torch.equal(first.x_adv, second.x_adv)


@pytest.mark.parametrize("name", NAMES)
def test_model_mode_is_restored_and_attack_ran_in_eval_mode(name):
    attack, model, batch, manifold, _ = run(name, 5)
    modes = []
    model.train()
    model[1].register_forward_pre_hook(lambda m, inp: modes.append(m.training))
    source = tiny_model(6) if attack.needs == "source_model" else None
    attack(model, batch, manifold=manifold, source_model=source)
    assert modes and not any(modes)
    assert all(m.training for m in model.modules())


def test_metrics_follow_the_paper_and_the_contract():
    rec = {col: None for col in RECORD_COLUMNS}
    # 2 samples x 2 restarts; sample 0 correct with one success, sample 1 misclassified
    rec.update(sample=np.array([0, 0, 1, 1]), restart=np.array([0, 1, 0, 1]), label=np.array([1, 1, 2, 2]),
               clean_pred=np.array([1, 1, 0, 0]), adv_pred=np.array([0, 1, 0, 0]),
               correct=np.array([True, True, False, False]), valid=np.ones(4, bool),
               success=np.array([True, False, True, True]), first_success_iter=np.array([3, -1, 0, 0]),
               linf=np.array([0.2, 0.3, 0.0, 0.0]), l2=np.array([1.0, 2.0, 0.0, 0.0]),
               l1=np.array([4.0, 5.0, 0.0, 0.0]), latent_norm=np.full(4, np.nan), loss=np.zeros(4))
    from raysweep.attacks import compute_metrics
    m = compute_metrics(rec)
    assert m["success_rate_attempt"] == 0.5 and m["success_rate_any"] == 1.0
    assert m["mean_l2"] == 1.0 and m["mean_linf"] == pytest.approx(0.2)
    assert (m["n_samples"], m["n_correct"], m["n_excluded"]) == (2, 1, 0)


def test_excluded_samples_are_counted_and_not_attacked():
    batch = toy_batch(0, n=6)
    batch.z[:2] = 0.95  # outside the toy bound 0.9
    attack = ATTACKS.build("onmanifold_class", **FAST)
    result = attack(tiny_model(0), batch, manifold=ToyManifold(0), keep_images=True)
    assert result.metrics()["n_excluded"] == 2
    rec = result.records
    assert not rec["valid"][np.isin(rec["sample"], [100, 101])].any()
    assert not rec["success"][~rec["valid"]].any()


@pytest.mark.parametrize("params", [dict(eps=-0.1), dict(norm="l3"), dict(step="newton"), dict(restarts=0), dict(foo=1)])
def test_bad_parameters_raise_user_errors(params):
    with pytest.raises(UserError):
        ATTACKS.build("linf", **params)


def test_missing_manifold_or_source_model_is_a_user_error():
    model, batch = tiny_model(0), toy_batch(0)
    with pytest.raises(UserError, match="manifold"):
        ATTACKS.build("onmanifold_true")(model, batch)
    with pytest.raises(UserError, match="source model"):
        ATTACKS.build("transfer")(model, batch)
    with pytest.raises(UserError):
        ATTACKS.build("unknown_attack")


def test_random_latent_manifold_is_configurable():
    assert ATTACKS.build("random_latent").needs == "class"
    assert ATTACKS.build("random_latent", manifold="true").needs == "true"
    with pytest.raises(UserError):
        ATTACKS.build("random_latent", manifold="moon")


def test_chunked_working_batches_give_the_same_records():
    model, batch = tiny_model(2), toy_batch(2, n=7)
    params = dict(iterations=5, restarts=2, random_start=False)  # no random draw: chunks must agree
    whole = ATTACKS.build("linf", **params)(model, batch, keep_images=True)
    chunked = ATTACKS.build("linf", max_rows=4, **params)(model, batch, keep_images=True)  # 2 samples a chunk
    assert chunked.x_adv.shape == whole.x_adv.shape
    assert torch.allclose(chunked.x_adv, whole.x_adv, atol=1e-6)
    key = lambda r: np.lexsort((r["restart"], r["sample"]))  # noqa: E731
    for col in ("sample", "restart", "success", "first_success_iter", "adv_pred"):
        np.testing.assert_array_equal(whole.records[col][key(whole.records)], chunked.records[col][key(chunked.records)])
