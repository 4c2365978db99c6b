"""Packed trials without Ray: which models share a Tune trial, the dry run's pack lines,
and a fused pack's rows and resume against each model run alone (raysweep.trial.pack)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import sweep_fixtures

from raysweep.resolve import catalog
from raysweep.config.schema import SweepSpec
from raysweep.trial.pack import PackHooks, run_pack
from raysweep.resolve.packing import group, members_of, pack_name
from raysweep.resolve.plan import plan_lines
from raysweep.trial.protocol import TrialHooks
from raysweep.trial.run import run_trial
from raysweep.resolve.validate import validate_and_resolve


def _trials(tmp_path, **overrides):
    catalog.load(("sweep_fixtures",))
    raw = sweep_fixtures.tiny_spec(str(tmp_path / "out"), **overrides)
    spec, trials = validate_and_resolve(SweepSpec(**raw), "test")
    return spec, trials


def test_seeds_pack_the_seeds_of_one_cell_and_none_packs_nothing(tmp_path):
    spec, trials = _trials(tmp_path, grid={"n": [50, 100], "seed": [1, 2, 3], "arch": ["cnn"]},
                           strategies=[{"name": "normal"}, {"name": "adversarial", "params": {"iterations": 2}},
                                       {"name": "transform_adversarial", "params": {"iterations": 2}}])
    packs = group(trials, "seeds")  # every cell packed (the sweep passes `runs_fused` to choose)
    assert len(packs) == 6 and all(len(p.members) == 3 for p in packs)
    for p in packs:  # one (strategy, arch, N) cell each, its seeds in grid order
        assert len({(m.strategy.key, m.arch.key, m.n) for m in p.members}) == 1
        assert [m.seed for m in p.members] == [1, 2, 3]
        assert members_of(p.to_config()) == list(p.members)
    assert sorted(m.trial_id for p in packs for m in p.members) == sorted(t.trial_id for t in trials)
    assert [p.members for p in group(trials, "none")] == [(t,) for t in trials]
    # a pack of one keeps the trial's own name; a bigger pack's name depends on its members
    assert pack_name(["abc"]) == "abc" and pack_name(["a", "b"]) != pack_name(["a", "c"])
    # the dry run names the packs, and only the pending members count
    lines = plan_lines(spec.model_copy(update={"pack": "seeds"}), trials, {trials[0].trial_id}, None)
    # normal and adversarial (gpu 0.1 by default) fuse: 2 packs each; transform_adversarial has no
    # fused form, so its 6 models stay one per trial
    assert "packs (seeds, where they train fused on a GPU): 10 Tune trials for 17 models" in lines
    assert any(line.strip().startswith("normal: 2 packs of 2/3 models") for line in lines)
    assert any(line.strip().startswith("adversarial: 2 packs of 3 models") for line in lines)
    assert not any(line.strip().startswith("transform_adversarial: ") and "pack" in line for line in lines)
    assert not any("packs" in line for line in plan_lines(spec, trials, set(), None))


def test_a_spec_names_an_unknown_pack_mode_in_one_line(tmp_path):
    with pytest.raises(Exception, match="pack"):
        _trials(tmp_path, pack="strategies")


def _collect(trials, fused, state=None, on_epoch=None):
    rows, failed = {}, {}
    hooks = PackHooks(on_done=lambda cfg, out, started, resumed: rows.__setitem__(cfg.trial_id, (out, resumed)),
                      on_failed=lambda cfg, msg: failed.__setitem__(cfg.trial_id, msg),
                      state=state, on_epoch=on_epoch, device=torch.device("cpu"))
    run_pack(trials, hooks, run_trial, fused=fused)
    return rows, failed


def test_a_fused_pack_gives_every_model_the_rows_it_gets_alone_and_resumes_exactly(tmp_path):
    """Fused (PackedModel, as on CUDA) forced on CPU: each member's test error, attack records and
    learning curve match run_trial's for that member; a pack resumed from its epoch-1 checkpoint
    ends where the uninterrupted pack ends."""
    torch.manual_seed(0)
    _, trials = _trials(tmp_path, grid={"n": [100], "seed": [1, 2], "arch": ["cnn"]}, train={"epochs": 2, "batch_size": 25})
    alone = {t.trial_id: run_trial(t, TrialHooks(device=torch.device("cpu"))) for t in trials}
    states = []
    fused, failed = _collect(trials, fused=True, on_epoch=lambda e, m, fn: states.append(fn()))
    assert not failed and set(fused) == set(alone)
    for tid, (out, resumed) in fused.items():
        a = alone[tid]
        assert resumed == 0 and abs(out.row["test_error"] - a.row["test_error"]) <= 0.02
        assert out.row["linf.success_rate_any"] == pytest.approx(a.row["linf.success_rate_any"], abs=0.1, nan_ok=True)
        assert [r["epoch"] for r in out.epochs] == [1, 2]
        assert out.epochs[-1]["train_loss"] == pytest.approx(a.epochs[-1]["train_loss"], rel=1e-3)
    assert len(states) == 2 and states[0]["pack_members"] == [t.trial_id for t in trials]
    resumed, _ = _collect(trials, fused=True, state=states[0])
    for tid, (out, epoch) in resumed.items():
        assert epoch == 1 and [r["epoch"] for r in out.epochs] == [1, 2]  # epoch 1's row rode in the checkpoint
        assert out.row["test_error"] == pytest.approx(fused[tid][0].row["test_error"], abs=1e-9)
        assert out.epochs[-1]["train_loss"] == pytest.approx(fused[tid][0].epochs[-1]["train_loss"], rel=1e-5)


def test_a_member_that_fails_fails_alone(tmp_path):
    """A UserError in one member is that member's failed row; the others still run."""
    _, trials = _trials(tmp_path, grid={"n": [50], "seed": [1], "arch": ["cnn"]},
                        strategies=[{"name": "refuse", "params": {"dir": str(tmp_path / "r")}}, {"name": "normal"}],
                        train={"epochs": 1, "batch_size": 50})
    rows, failed = _collect(trials, fused=False)
    assert list(failed) == [trials[0].trial_id] and "refuse" in failed[trials[0].trial_id]
    assert list(rows) == [trials[1].trial_id]


def test_a_pack_retried_mid_member_resumes_it_and_never_reruns_a_finished_one(tmp_path):
    """The pack dies in its second member's second epoch; the retry gets the pack's last
    checkpoint (tagged with the member it belongs to) and the members without rows, as the Tune
    trainable hands them over: the second member resumes after its epoch 1, the first never reruns."""
    calls = tmp_path / "flaky"
    _, trials = _trials(tmp_path, grid={"n": [50], "seed": [1, 2], "arch": ["cnn"]}, train={"epochs": 3, "batch_size": 50},
                        strategies=[{"name": "flaky_in_process", "params": {"dir": str(calls), "fail_at": 5}}])
    sweep_fixtures.FlakyInProcess.calls = 0  # n 50, batch 50: one loss call per epoch
    states = []
    with pytest.raises(RuntimeError, match="dies mid-training"):
        _collect(trials, fused=False, on_epoch=lambda e, m, fn: states.append(fn()))
    assert [s["trial_id"] for s in states] == [trials[0].trial_id] * 3 + [trials[1].trial_id]
    rows, _ = _collect(trials[1:], fused=False, state=states[-1])
    assert rows[trials[1].trial_id][1] == 1  # resumed from its epoch-1 checkpoint
    # 3 (member 1) + 2 (member 2 until it dies) + 2 (member 2's epochs 2-3)
    assert len(list((calls / "calls").iterdir())) == 7
    # a checkpoint of another member is never applied: member 1 alone with member 2's state starts afresh
    rows, _ = _collect(trials[:1], fused=False, state=states[-1])
    assert rows[trials[0].trial_id][1] == 0


def test_only_cells_that_train_fused_on_a_gpu_are_packed(tmp_path):
    """Packing pays only fused (a fused form on a GPU request); other cells keep one model per trial."""
    from raysweep.resolve.packing import runs_fused

    _, trials = _trials(tmp_path, grid={"n": [50], "seed": [1, 2], "arch": ["cnn"]},
                        strategies=[{"name": "normal"}, {"name": "adversarial", "params": {"iterations": 2}},
                                    {"name": "transform_adversarial", "params": {"iterations": 2}}])
    sizes = lambda gpu: sorted(len(p.members) for p in group(trials, "seeds", lambda t: runs_fused(t, gpu)))  # noqa: E731
    assert sizes(0.1) == [1, 1, 2, 2]  # normal's and adversarial's seeds fuse; transform_adversarial's do not
    assert sizes(0.0) == [1] * 6  # a CPU cluster (GPU requests dropped) packs nothing


def test_pack_evaluation_gives_each_member_its_own_rows(tmp_path):
    """raysweep.trial.pack_eval (forced fused on CPU) on trained models: test error and the fused L-inf
    attack's records (and the random-noise baseline's: the same PGD with 0 iterations), distances
    included, match evaluate_trial on each model alone."""
    from raysweep.training.loop import train
    from raysweep.training.packed_attack import has_packed_form
    from raysweep.trial.artifacts import dataset_for
    from raysweep.trial.attack_runs import build_attacks
    from raysweep.trial.evaluate import evaluate_trial
    from raysweep.trial.pack_eval import evaluate_pack
    from raysweep.trial.prepare import prepare

    evaluate = {"attacks": [{"name": "linf", "samples": 12, "restarts": 2, "params": {"iterations": 8}},
                            {"name": "random_linf", "samples": 12, "restarts": 1}],
                "distances": [{"method": "knn", "attack": "linf", "samples": 5, "k": 8}]}
    _, trials = _trials(tmp_path, grid={"n": [100], "seed": [1, 2], "arch": ["cnn"]}, evaluate=evaluate,
                        train={"epochs": 1, "batch_size": 25})
    fused = [k for k, a in build_attacks(trials[0].evaluate).items() if has_packed_form(a.attack)]
    assert fused == ["linf", "random_linf"]  # both image-space PGD (0 iterations: noise)
    device = torch.device("cpu")
    ds = dataset_for(trials[0])
    models = []
    for t in trials:
        p = prepare(t, ds, {}, device, None)
        train(p.model, p.split, p.strategy, t.train, seed=t.seed, device=device)
        models.append(p.model.eval())
    alone = [evaluate_trial(t, m, ds, {}, device) for t, m in zip(trials, models)]
    packed = evaluate_pack(trials, models, [{"epochs": []} for _ in trials], ds, {}, device)
    for a, p in zip(alone, packed):
        assert p.row["test_error"] == pytest.approx(a.row["test_error"], abs=1e-9)
        for key in ("linf.success_rate_any", "random_linf.success_rate_any", "knn.linf.n"):
            assert p.row[key] == pytest.approx(a.row[key], abs=1e-9, nan_ok=True), key
        assert p.row["eval_time_s"] > 0
        for col in ("sample", "restart", "success", "first_success_iter"):
            assert list(p.examples[col]) == list(a.examples[col]), col
        np.testing.assert_allclose(p.examples["loss"], a.examples["loss"], rtol=1e-4, atol=1e-5)
    # control: the members differ (own weights, own random starts), so matching is not trivial
    assert not np.allclose(alone[0].examples["loss"], alone[1].examples["loss"], equal_nan=True)
