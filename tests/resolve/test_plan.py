"""Sweep engine pieces that need no Ray cluster: resource requests (GPU dropped with one warning
on a GPU-less cluster), the dry-run plan, the progress line, and the store on a URI."""
from __future__ import annotations

import io

import pyarrow as pa
import pytest


import sweep_fixtures
from raysweep.config import parse_spec
from raysweep.resolve.trials import expand
from raysweep.results.store import TableStore
from raysweep.resolve.plan import Request, plan, strategy_requests
from raysweep.resolve.cost import estimate_seconds


def _spec(tmp_path):
    raw = sweep_fixtures.tiny_spec(str(tmp_path))
    raw["strategies"] = [{"name": "normal"}, {"name": "explode", "params": {"dir": "x"}, "resources": {"cpu": 2, "gpu": 0.25}}]
    return parse_spec(raw)


def test_requests_follow_strategy_and_default(tmp_path):
    spec = _spec(tmp_path)
    out = io.StringIO()
    reqs = strategy_requests(spec, cluster_gpus=1.0, out=out)
    assert reqs == {"normal": Request(1.0, 0.1), "explode": Request(2.0, 0.25)}
    assert out.getvalue() == ""
    assert reqs["normal"].as_dict() == {"cpu": 1.0, "gpu": 0.1}  # CPU always named


def test_gpu_dropped_with_one_warning_without_gpus(tmp_path):
    out = io.StringIO()
    reqs = strategy_requests(_spec(tmp_path), cluster_gpus=0.0, out=out)
    assert all(r.gpu == 0 and r.cpu > 0 for r in reqs.values())
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and "no GPUs" in lines[0]


def test_plan_counts_and_cost(tmp_path):
    spec = _spec(tmp_path)
    trials = expand(spec)
    reqs = strategy_requests(spec, None)
    p = plan(trials, reqs, {t.trial_id: 3600.0 for t in trials})
    assert p.counts == {"normal": 4, "explode": 4}
    assert p.gpu_hours == pytest.approx(4 * 0.1 + 4 * 0.25)
    assert p.cpu_hours == pytest.approx(4 * 1 + 4 * 2)
    assert p.lines()[0] == "trials: 8"
    # bigger N costs more
    small, big = (estimate_seconds(spec, t) for t in (trials[0], trials[-1]))
    assert big > small > 0


def test_cost_follows_the_architecture_and_its_width(tmp_path):
    from raysweep.resolve.cost import ARCH_COST, WIDTH_EXPONENT, arch_cost

    assert arch_cost("resnet13", (1, 28, 28)) == ARCH_COST[("resnet13", "28x28x1")]
    assert arch_cost("resnet13", (1, 28, 28), 0.25) == pytest.approx(ARCH_COST[("resnet13", "28x28x1")] * 0.25 ** WIDTH_EXPONENT)
    raw = sweep_fixtures.tiny_spec(str(tmp_path), grid={"n": [100], "seed": [1], "arch": [
        "cnn", "resnet13", {"name": "resnet13", "width": 0.25}]})
    spec = parse_spec(raw)
    cnn, wide, narrow = (estimate_seconds(spec, t) for t in expand(spec))
    assert wide / cnn == pytest.approx(ARCH_COST[("resnet13", "28x28x1")])
    assert 1 < narrow / cnn < wide / cnn / 8  # a quarter of the width: well under a tenth of the cost


def test_cost_counts_the_test_set_the_trial_scores(tmp_path):
    """The final test error scores every test image (FONTS-1000: 160,000) at FORWARD_COST a
    training image each; evaluate.test_samples caps it."""
    from raysweep.resolve.cost import CALIBRATION_IMAGES_PER_S, FORWARD_COST, test_images

    raw = sweep_fixtures.tiny_spec(str(tmp_path), grid={"n": [100], "seed": [1], "arch": ["cnn"]})
    big = parse_spec({**raw, "dataset": {**raw["dataset"], "options": {**raw["dataset"].get("options", {}),
                                                                       "test_size": 160000}}})
    capped = parse_spec({**big.model_dump(mode="json"), "evaluate": {**big.evaluate.model_dump(mode="json"),
                                                                     "test_samples": 1000}})
    assert test_images(big) == 160000 and test_images(capped) == 1000
    (t_big,), (t_capped,) = expand(big), expand(capped)
    extra = estimate_seconds(big, t_big) - estimate_seconds(capped, t_capped)
    assert extra == pytest.approx(159000 * FORWARD_COST / CALIBRATION_IMAGES_PER_S["cpu"])


@pytest.mark.parametrize("width", [1.0, 0.25])
def test_cost_counts_the_manifold_an_inner_iteration_decodes(tmp_path, width):
    """Inner iterations through the true manifold and a class VAE-GAN (at its width) cost what
    was measured, against the image-space attack's INNER_ITERATION_COST."""
    from raysweep.resolve.cost import INNER_ITERATION_COST, MANIFOLD_ITERATION_COST, VAEGAN_WIDTH_EXPONENT, inner_iteration_cost

    raw = sweep_fixtures.tiny_spec(str(tmp_path), grid={"n": [100], "seed": [1], "arch": ["cnn"]})
    raw["strategies"] = [{"name": s, "params": {"iterations": 10}}
                         for s in ("adversarial", "onmanifold_true", "onmanifold_class")]
    raw["manifolds"] = {"options": {"vaegan": {"width": width}}}
    spec = parse_spec(raw)
    adv, true, cls = (inner_iteration_cost(spec, t) for t in expand(spec))
    assert adv == INNER_ITERATION_COST and true == MANIFOLD_ITERATION_COST["true"]
    assert cls == pytest.approx(MANIFOLD_ITERATION_COST["class"] * width ** VAEGAN_WIDTH_EXPONENT)
    assert adv < true < cls


def test_progress_line_counts_and_eta():
    from raysweep.driver.progress import Counts, format_line
    from raysweep.tune.progress_line import ProgressLine

    assert format_line(Counts(4, 2, 4, 0), 100.0, 4) == \
        "sweep: 4 done, 2 running, 4 pending, 0 failed | 01:40 elapsed, ETA 02:30"
    assert format_line(Counts(0, 2, 8, 0), 5.0, 0).endswith("ETA --:--")

    class T:
        def __init__(self, status, models=1):
            self.status, self.config = status, {"pack": [{}] * models}

    out = io.StringIO()  # not a TTY: plain lines, only when forced or every log_every_s
    bar = ProgressLine(already_done=3, out=out, log_every_s=3600)
    trials = [T("TERMINATED"), T("RUNNING"), T("PENDING"), T("ERROR")]
    assert bar.counts(trials) == Counts(done=4, running=1, pending=1, failed=1)
    # a Tune trial running a pack of models counts as its models
    assert bar.counts([T("TERMINATED", 3), T("RUNNING", 2)]) == Counts(done=6, running=2, pending=0, failed=0)
    bar.writer._last_print = float("inf")  # pretend we just printed
    bar.on_step_end(0, trials)
    assert out.getvalue() == ""
    bar.on_trial_complete(0, trials, trials[0])
    assert out.getvalue().count("\n") == 1 and "4 done, 1 running, 1 pending, 1 failed" in out.getvalue()


def test_store_on_uri_is_atomic_and_idempotent(tmp_path):
    store = TableStore(f"file://{tmp_path}", "s")
    t = pa.table({"trial_id": ["a"], "status": ["ok"], "x": [1.0]})
    store.write("a", t, pa.table({"trial_id": ["a", "a"]}))
    store.write("a", t)
    assert store.done_ids() == {"a"}
    assert store.read("trials").num_rows == 1 and store.read("examples").num_rows == 2
    assert sorted(p.name for p in (tmp_path / "s" / "tables" / "trials").iterdir()) == ["a.parquet"]


def test_missing_checkpoint_takes_the_newest_complete_one(tmp_path):
    """The resume repair (raysweep.tune.resume): a state naming a deleted checkpoint gets the
    trial's newest checkpoint that holds a state file; a half-copied one is never used."""
    import pyarrow.fs as pafs

    from raysweep.driver.checkpoint_repair import repair_missing_checkpoint
    from raysweep.driver.checkpoint_repair import STATE_FILE

    trial = tmp_path / "trial"
    for name, complete in [("checkpoint_000001", True), ("checkpoint_000003", True), ("checkpoint_000004", False)]:
        (trial / name).mkdir(parents=True)
        if complete:
            (trial / name / STATE_FILE).write_bytes(name.encode())
    fs = pafs.LocalFileSystem()
    assert "checkpoint_000003" in repair_missing_checkpoint(fs, str(trial / "checkpoint_000002"))
    assert (trial / "checkpoint_000002" / STATE_FILE).read_bytes() == b"checkpoint_000003"
    assert not (trial / "checkpoint_000003").exists() and (trial / "checkpoint_000004").exists()


def test_missing_checkpoint_without_any_left_starts_afresh(tmp_path):
    import pyarrow.fs as pafs

    from raysweep.driver.checkpoint_repair import repair_missing_checkpoint
    from raysweep.driver.checkpoint_repair import STATE_FILE

    (tmp_path / "trial" / "checkpoint_000000").mkdir(parents=True)  # half-copied: no state file
    target = tmp_path / "trial" / "checkpoint_000001"
    assert "epoch 0" in repair_missing_checkpoint(pafs.LocalFileSystem(), str(target))
    assert target.is_dir() and not (target / STATE_FILE).exists()


def test_dry_run_counts_the_vaegans_once_per_sweep(tmp_path):
    """Learned manifolds cost their VAE-GANs' steps once per sweep (one per class), at the
    measured seconds per step for their width; a sweep without them adds nothing (control)."""
    from raysweep.resolve.cost import VAEGAN_STEP_S, VAEGAN_STEP_WIDTH_EXPONENT, vaegan_seconds

    raw = sweep_fixtures.tiny_spec(str(tmp_path), grid={"n": [100, 200], "seed": [1], "arch": ["cnn"]})
    plain = parse_spec(raw)
    assert vaegan_seconds(plain, expand(plain)) == 0.0
    raw["strategies"] = [{"name": "normal"}, {"name": "onmanifold_class", "params": {"iterations": 10}}]
    cost = {}
    for width, steps in ((0.5, 300), (0.5, 600), (0.25, 600)):
        raw["manifolds"] = {"options": {"vaegan": {"width": width, "steps": steps}}}
        spec = parse_spec(raw)
        cost[width, steps] = vaegan_seconds(spec, expand(spec))
    assert cost[0.5, 300] == pytest.approx(10 * 300 * VAEGAN_STEP_S * 0.5 ** VAEGAN_STEP_WIDTH_EXPONENT)
    assert cost[0.5, 600] == pytest.approx(2 * cost[0.5, 300])  # twice the trials would not double it
    assert cost[0.25, 600] < cost[0.5, 600]
    trials = expand(spec)
    p = plan(trials, strategy_requests(spec, None), {t.trial_id: 0.0 for t in trials}, cost[0.25, 600])
    assert p.cpu_hours == pytest.approx(cost[0.25, 600] / 3600)
    assert any("VAE-GANs" in line for line in p.lines())
