"""Known answers: a linear classifier whose optimal L-inf/L2 perturbations are analytic, the
per-row Adam equals torch.optim.Adam, early stopping keeps the first successful iterate and
changes nothing but the time, and the CW margin with all logits negative."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attack_toys import tiny_model, toy_batch
from raysweep.attacks import ATTACKS, RECORD_COLUMNS, adversarial_examples, cw_margin
from raysweep.attacks.loop import LoopConfig, run_loop
from raysweep.attacks.pgd import ImageProblem
from raysweep.data.batch import Batch

D = 36  # pixels of a 1x6x6 image


def linear_case(thresholds: list[float], seed: int = 0):
    """Two classes, logit_1 - logit_0 = s . x + c with s in {-1, 1}^D; every sample has label 1
    and margin `alpha`. The smallest margin reduction within ||delta|| <= eps is eps * ||s||_1
    (L-inf) or eps * ||s||_2 (L2) when the box does not bind, so success <=> alpha < that."""
    g = torch.Generator().manual_seed(seed)
    s = torch.randint(0, 2, (D,), generator=g).float() * 2 - 1
    model = nn.Sequential(nn.Flatten(), nn.Linear(D, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.stack([torch.zeros(D), s]))
        model[1].bias.copy_(torch.tensor([0.0, -0.5 * float(s.sum())]))
    alpha = torch.tensor(thresholds)
    x = (0.5 + alpha[:, None] * s / D).view(-1, 1, 6, 6)  # margin = alpha; x stays in [0.3, 0.7]
    return model, Batch(x, torch.ones(len(alpha), dtype=torch.long)), s


@pytest.mark.parametrize("norm,eps", [("linf", 0.08), ("l2", 0.5)])
def test_linear_classifier_success_is_the_analytic_one(norm, eps):
    budget = eps * (D if norm == "linf" else D**0.5)  # eps * dual norm of s
    fractions = [0.3, 0.6, 0.85, 1.15, 1.5, 2.5]
    model, batch, _ = linear_case([f * budget for f in fractions])
    attack = ATTACKS.build(norm, eps=eps)
    rec = attack(model, batch, generator=torch.Generator().manual_seed(0)).records
    expected = np.repeat(np.array(fractions)[None] < 1, attack.config.restarts, axis=0).reshape(-1)
    np.testing.assert_array_equal(rec["success"], expected)


@pytest.mark.parametrize("norm,eps", [("linf", 0.08), ("l2", 0.5)])
def test_training_variant_finds_the_optimal_perturbation(norm, eps):
    model, batch, s = linear_case([4.0, 6.0])  # robust samples (margin > budget): all iterations run
    x_adv = adversarial_examples(model, batch.x, batch.y, eps=eps, norm=norm,
                                 generator=torch.Generator().manual_seed(1))
    delta = (x_adv - batch.x).flatten(1)
    optimal = -eps * (s if norm == "linf" else s / D**0.5)
    if norm == "linf":
        assert torch.allclose(delta, optimal.expand_as(delta), atol=1e-6)
    else:
        assert torch.allclose(delta.norm(dim=1), torch.full((2,), eps), atol=1e-4)
        assert float(F.cosine_similarity(delta, optimal[None]).min()) > 0.99


def test_sign_gradient_step_reaches_the_linf_vertex():
    model, batch, s = linear_case([4.0, 6.0])
    x_adv = adversarial_examples(model, batch.x, batch.y, eps=0.08, step="sign", lr=0.01,
                                 generator=torch.Generator().manual_seed(0))
    assert torch.allclose((x_adv - batch.x).flatten(1), (-0.08 * s).expand(2, D), atol=1e-6)


def test_per_row_adam_is_torch_adam():
    model, batch = tiny_model(2), toy_batch(2, n=5)
    model.eval()
    problem = ImageProblem(batch, eps=0.05, norm="linf", random_init=False)
    work = problem.rows(1)
    cfg = LoopConfig(iterations=7, early_stop=False, keep="highest_loss")
    # reference: a plain loop with torch.optim.Adam and projection, all rows together
    delta = torch.zeros_like(batch.x, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=cfg.lr)
    for _ in range(cfg.iterations):
        opt.zero_grad()
        (-F.cross_entropy(model(batch.x + delta), batch.y, reduction="sum")).backward()
        opt.step()
        with torch.no_grad():
            delta.copy_(problem.project(delta, work))
    # our loop with all-iterations semantics must end on the same iterate when loss only grows
    ours = run_loop(model, problem, work, torch.zeros_like(batch.x), LoopConfig(iterations=7, early_stop=False,
                                                                             keep="first_success"))
    never = ours.first_success < 0
    assert never.any()
    assert torch.allclose(ours.var[never], delta.detach()[never], atol=1e-6)


def test_early_stopping_keeps_the_first_successful_iterate_and_changes_nothing_else():
    model, batch = tiny_model(4), toy_batch(4, n=12)
    params = dict(eps=0.3, iterations=30, restarts=3)
    on = ATTACKS.build("linf", **params)(model, batch, generator=torch.Generator().manual_seed(0), keep_images=True)
    off = ATTACKS.build("linf", early_stop=False, **params)(model, batch, generator=torch.Generator().manual_seed(0),
                                                            keep_images=True)
    first = on.records["first_success_iter"]
    assert ((first > 0) & (first < 30)).any(), "the case should have samples that fall mid-way"
    for col in ("success", "first_success_iter", "adv_pred"):
        np.testing.assert_array_equal(on.records[col], off.records[col])
    assert torch.allclose(on.x_adv, off.x_adv, atol=1e-6)
    # the kept image is the iterate at first_success_iter: an attack stopped there ends on it
    k = int(first[(first > 0)].min())
    short = ATTACKS.build("linf", early_stop=False, **{**params, "iterations": k})(
        model, batch, generator=torch.Generator().manual_seed(0), keep_images=True)
    rows = torch.from_numpy(first == k).view(3, -1)
    assert torch.allclose(on.x_adv[rows], short.x_adv[rows], atol=1e-6)
    # and it is not the last iterate: continuing would have moved further
    model.eval()
    problem = ImageProblem(batch, eps=0.3, norm="linf")
    work = problem.rows(1)
    start = problem.init(work, torch.Generator().manual_seed(5))
    first_kept = run_loop(model, problem, work, start, LoopConfig(iterations=30, early_stop=True))
    last = run_loop(model, problem, work, start, LoopConfig(iterations=30, early_stop=False, keep="highest_loss"))
    mid = (first_kept.first_success > 0) & (first_kept.first_success < 30)
    assert mid.any()
    assert (first_kept.loss[mid] < last.loss[mid]).all()


def test_early_stopping_drops_rows_from_the_batch():
    model, batch = tiny_model(4).eval(), toy_batch(4, n=12)
    problem = ImageProblem(batch, eps=0.3, norm="linf")
    work = problem.rows(2)
    start = problem.init(work, torch.Generator().manual_seed(0))
    eager = run_loop(model, problem, work, start, LoopConfig(iterations=30, early_stop=True, compact_cost=0.0))
    lazy = run_loop(model, problem, work, start, LoopConfig(iterations=30, early_stop=True))
    off = run_loop(model, problem, work, start, LoopConfig(iterations=30, early_stop=False))
    assert off.row_steps == 24 * 30
    finished = torch.where(eager.first_success >= 0, eager.first_success, torch.full_like(eager.first_success, 30))
    assert eager.row_steps == int(finished.sum())  # each row stepped exactly until it succeeded
    assert eager.row_steps <= lazy.row_steps < off.row_steps  # lazy: compacts in bigger steps
    for result in (lazy, off):
        assert torch.equal(result.first_success, eager.first_success)
        assert torch.allclose(result.x_adv, eager.x_adv, atol=1e-6)


def test_cw_margin_masks_the_true_class_with_minus_infinity():
    logits = torch.tensor([[-5.0, -1.0, -3.0], [-2.0, -9.0, -4.0]], requires_grad=True)
    y = torch.tensor([1, 1])
    margin = cw_margin(logits, y, kappa=1.5)
    # l_y - max_{j != y} l_j: row 0: -1 - (-3) = 2; row 1: -9 - (-2) = -7 -> clamped at -kappa
    assert margin.tolist() == [2.0, -1.5]
    margin[0].backward()
    assert logits.grad[0].tolist() == [0.0, 1.0, -1.0]  # a 0-mask would send no gradient to class 2


def test_cw_finds_adversarials_when_all_logits_are_negative():
    model, batch, _ = linear_case([0.5, 1.0, 2.0])
    with torch.no_grad():
        model[1].bias.sub_(50.0)  # every logit negative: a 0-mask would see a false margin
    assert (model(batch.x) < 0).all()
    rec = ATTACKS.build("cw")(model, batch).records
    assert rec["success"].all()
    assert (rec["l2"] < 0.5).all()  # CW keeps the perturbation small


def test_records_have_the_contract_columns_and_types():
    rec = ATTACKS.build("linf", iterations=2, restarts=2)(tiny_model(0), toy_batch(0)).records
    assert tuple(rec) == RECORD_COLUMNS
    assert rec["success"].dtype == bool and rec["sample"].dtype == np.int64
    assert sorted(set(rec["restart"])) == [0, 1]
    assert np.isnan(rec["latent_norm"]).all()


class Constant(nn.Module):
    """Predicts class k whatever the input (a target no perturbation can change)."""

    def __init__(self, k: int):
        super().__init__()
        self.k = k
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        logits = torch.zeros(x.shape[0], 3, device=x.device) + self.w
        logits[:, self.k] += 1.0
        return logits


def test_transfer_needs_source_success_and_target_error_and_counts_samples_both_get_right():
    source, batch = tiny_model(8).eval(), toy_batch(8, n=10)
    batch.y = source(batch.x).argmax(1)  # the source gets every sample right
    k = int(batch.y.mode().values)
    params = dict(iterations=20, restarts=2)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    direct = ATTACKS.build("linf", **params)(source, batch, generator=g()).records
    same = ATTACKS.build("transfer", **params)(source, batch, source_model=source, generator=g()).records
    for col in ("sample", "success", "correct", "adv_pred", "first_success_iter"):
        np.testing.assert_array_equal(same[col], direct[col])  # self-transfer is the white-box attack
    assert direct["success"].any()
    result = ATTACKS.build("transfer", **params)(Constant(k), batch, source_model=source, generator=g())
    fixed = result.records
    np.testing.assert_array_equal(fixed["correct"], fixed["label"] == k)  # correct on both models
    assert not fixed["success"][fixed["correct"]].any()  # the target never changes its mind
    assert result.metrics()["success_rate_attempt"] == 0.0


@pytest.mark.parametrize("step", ["adam_sign", "adam_scaled"])
def test_normalised_adam_steps_are_torch_adam_on_the_normalised_gradient(step):
    # adam_sign: foolbox's LinfAdamPGD; adam_scaled: each row's gradient divided by its max |g|
    model, batch = tiny_model(2), toy_batch(2, n=5)
    model.eval()
    problem = ImageProblem(batch, eps=0.05, norm="linf", random_init=False)
    work = problem.rows(1)
    delta = torch.zeros_like(batch.x, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=0.005)
    for _ in range(6):
        opt.zero_grad()
        (-F.cross_entropy(model(batch.x + delta), batch.y, reduction="sum")).backward()
        g = delta.grad
        delta.grad = g.sign() if step == "adam_sign" else g / g.flatten(1).abs().amax(1).view(-1, 1, 1, 1)
        opt.step()
        with torch.no_grad():
            delta.copy_(problem.project(delta, work))
    ours = run_loop(model, problem, work, torch.zeros_like(batch.x),
                    LoopConfig(iterations=6, step=step, early_stop=False, keep="first_success"))
    never = ours.first_success < 0
    assert never.any()
    assert torch.allclose(ours.var[never], delta.detach()[never], atol=1e-6)
    plain = run_loop(model, problem, work, torch.zeros_like(batch.x), LoopConfig(iterations=6, early_stop=False))
    assert not torch.allclose(plain.var[never], delta.detach()[never], atol=1e-6)  # control: it differs from raw Adam
