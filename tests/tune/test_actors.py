"""Manifold actors and the VAE-GAN trainable.

Ray tests share one local Ray (2 CPUs, 1 fake GPU) per module; VAE-GANs are smoke-width and train
one epoch on 100 images, so every test here is about plumbing and counts, not model quality.
"""
import json
import time

import pandas as pd
import pytest
import torch

from raysweep.config.parse import parse_model
from raysweep.config.schema import ActorResources, DatasetSpec, ManifoldOptions
from raysweep._core.errors import UserError
from raysweep.tune import vaegan_trainable as vt
from raysweep.manifold.serving import actor_name
from raysweep.vaegan import job as vj
from raysweep.manifold.lambda_score import read_lambda_table

SMOKE = ManifoldOptions(vaegan={"width": 0.125, "epochs": 1}, train_size=100)
SHARE = ActorResources(cpu=0, gpu=0.05)


@pytest.fixture(scope="module")
def fonts(tmp_path_factory):
    """A tiny FONTS data set in a private cache; actors find it through the options' cache_dir."""
    from raysweep.data import load_dataset

    opts = {"max_fonts": 3, "train_size": 600, "test_size": 120,
            "cache_dir": str(tmp_path_factory.mktemp("fonts-cache"))}
    load_dataset("fonts", **opts)  # build the cache once, before any worker reads it
    return DatasetSpec(name="fonts", options=opts)



# -- without Ray ---------------------------------------------------------------------------------

def test_actor_names_are_deterministic_and_distinct(fonts):
    other = DatasetSpec(name="fonts", options={**fonts.options, "preset": "easy"})
    again = DatasetSpec.model_validate(json.loads(fonts.model_dump_json()))
    assert actor_name(fonts, 3, "class") == actor_name(again, 3, "class")
    names = {actor_name(fonts, 3, "class"), actor_name(fonts, 4, "class"), actor_name(other, 3, "class"),
             actor_name(fonts, None, "data"), actor_name(fonts, None, "true")}
    assert len(names) == 5


def test_manifold_options_reject_unknown_keys():
    with pytest.raises(UserError, match="widht: unknown key"):
        parse_model(ManifoldOptions, {"widht": 1}, "spec", "manifold options")
    assert parse_model(ManifoldOptions, SMOKE.model_dump(), "spec", "manifold options").train_size == 100


def test_lambda_table_feeds_the_jobs(tmp_path, fonts):
    from raysweep.vaegan.job import make_job
    from raysweep.manifold.lambda_score import write_table

    path = str(tmp_path / "lambda.parquet")
    write_table(pd.DataFrame({"kind": ["class", "class"], "class": [0, 2], "lambda": [1.5, 7.0]}), path)
    lambdas = read_lambda_table(path)
    assert lambdas == {0: 1.5, 2: 7.0}
    assert make_job(fonts, 2, SMOKE, lambdas).lam == 7.0
    assert make_job(fonts, 1, SMOKE, lambdas).lam == 3.0  # not tuned: the paper's FONTS lambda
    # the spec's own lambda comes between the table and the paper's (it used to be overwritten)
    own = SMOKE.model_copy(update={"vaegan": {**SMOKE.vaegan, "lam": 4.5}})
    assert make_job(fonts, 1, own, lambdas).lam == 4.5 and make_job(fonts, 2, own, lambdas).lam == 7.0


def test_interrupted_training_resumes_to_the_same_weights(tmp_path, fonts, monkeypatch):
    """A crash after epoch 0 resumes from the stored epoch (no fresh start) and ends where an
    uninterrupted run ends."""
    job = vj.VAEGANJob(dataset=fonts.model_dump(), cls=1, lam=3.0, vaegan={"width": 0.125, "epochs": 2},
                       train_size=100)
    straight = str(tmp_path / "straight")
    vj.fit_job(job, straight, device=torch.device("cpu"), keep_partial=True)

    crashed = str(tmp_path / "crashed")
    real_save = vj.save_training_state

    def save_then_crash(*args):
        real_save(*args)
        raise RuntimeError("worker died")

    monkeypatch.setattr(vj, "save_training_state", save_then_crash)
    with pytest.raises(RuntimeError, match="worker died"):
        vj.fit_job(job, crashed, device=torch.device("cpu"), keep_partial=True)
    monkeypatch.setattr(vj, "save_training_state", real_save)
    assert not vj.is_trained(crashed, job)
    vj.fit_job(job, crashed, device=torch.device("cpu"), keep_partial=True)

    assert vj.train_count(crashed, job) == 1  # resumed, not restarted
    a, _ = vj.load_final(straight, job)
    b, rec = vj.load_final(crashed, job)
    assert rec.lam == 3.0
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k


# -- with Ray ------------------------------------------------------------------------------------

@pytest.mark.ray
@pytest.mark.timeout(240)
def test_trials_share_one_actor_which_trains_once(ray_local, fonts, tmp_path):
    """Four trials at 0.25 GPU beside an actor at 0.05 GPU: no deadlock, one actor, one training."""
    from ray import tune

    from raysweep.tune.actors import ensure_manifold_actors, teardown
    from raysweep.tune.manifold_client import manifold_from_actors

    storage = str(tmp_path / "store")
    handles = ensure_manifold_actors(fonts, ["class"], storage, SHARE, classes=[0], options=SMOKE)
    again = ensure_manifold_actors(fonts, ["class"], storage, SHARE, classes=[0], options=SMOKE)
    actor = handles.actors["class"][0]
    assert ray_local.get(again.actors["class"][0].info.remote())["actor_id"] == ray_local.get(actor.info.remote())["actor_id"]
    names = handles.names()
    z = torch.linspace(-1, 1, 20).reshape(2, 10)

    def trial(config):
        m = manifold_from_actors(names["class"], device=torch.device("cpu"))
        a = ray_local.get_actor(names["class"], namespace="raysweep")
        x = m.decode(z, torch.zeros(2, dtype=torch.long))
        info = ray_local.get(a.info.remote())
        tune.report({"actor_id": info["actor_id"], "checksum": float(x.sum()), "gpus": len(ray_local.get_gpu_ids())})

    results = tune.Tuner(
        tune.with_resources(trial, {"cpu": 0.5, "gpu": 0.25}),
        param_space={"i": tune.grid_search(list(range(4)))},
        tune_config=tune.TuneConfig(max_concurrent_trials=4, reuse_actors=True),
        run_config=tune.RunConfig(storage_path=str(tmp_path / "tune"), verbose=0),
    ).fit()
    df = pd.DataFrame([r.metrics for r in results])  # metrics kept in memory (file loggers are off)
    assert len(df) == 4 and not results.errors
    assert df["actor_id"].nunique() == 1 and (df["gpus"] == 1).all()  # each trial held a GPU share
    served = ray_local.get(actor.decode.remote(z))  # the actor's own decoder agrees with the local copy
    assert df["checksum"].tolist() == pytest.approx([float(served.sum())] * 4, rel=1e-5)
    assert ray_local.get(actor.info.remote())["train_count"] == 1
    job = vj.VAEGANJob(dataset=fonts.model_dump(), cls=0, lam=3.0, vaegan=SMOKE.vaegan, train_size=SMOKE.train_size)
    assert vj.train_count(storage, job) == 1  # the counter in storage, beside the checkpoint

    # Killed with restarts allowed: __init__ re-runs from storage paths and loads the checkpoint.
    before = ray_local.get(ray_local.get(actor.weights_ref.remote())[1][0])
    old_pid = ray_local.get(actor.info.remote())["pid"]
    ray_local.kill(actor, no_restart=False)
    info = _wait_for_restart(ray_local, actor, old_pid)
    assert info["trained_here"] is False and info["train_count"] == 1
    after = ray_local.get(ray_local.get(actor.weights_ref.remote())[1][0])
    assert all(torch.equal(before["state_dict"][k], after["state_dict"][k]) for k in before["state_dict"])
    codes = ray_local.get(actor.codes.remote("test"))
    assert codes["z"].shape == (len(codes["idx"]), 10) and len(codes["idx"]) > 0

    # Another model (seed) is another actor under another name: never the same one silently
    # reused, and tearing one sweep's actors down leaves the other's serving.
    other = ensure_manifold_actors(fonts, ["class"], storage, SHARE, classes=[0],
                                   options=SMOKE.model_copy(update={"seed": 1}))
    assert other.names()["class"] != names["class"]
    replaced = ray_local.get(other.actors["class"][0].info.remote())
    assert replaced["actor_id"] != info["actor_id"] and replaced["trained_here"] is True
    teardown(other)
    assert ray_local.get(ray_local.get_actor(names["class"], namespace="raysweep").info.remote())["pid"] == info["pid"]
    teardown(handles)
    with pytest.raises(ValueError):
        ray_local.get_actor(names["class"], namespace="raysweep")

    # What the sweep runner hands trials: plain actor names in, a Manifold in the trial, names freed
    # at the end.
    data = ensure_manifold_actors(fonts, ["data"], storage, SHARE, options=SMOKE)
    started = data.names()
    assert started["data"].startswith(actor_name(fonts, None, "data"))
    assert manifold_from_actors(started["data"], torch.device("cpu")).decode(z).shape == (2, 1, 28, 28)
    teardown(data)
    with pytest.raises(ValueError):
        ray_local.get_actor(started["data"], namespace="raysweep")


def _wait_for_restart(ray, actor, old_pid, timeout_s=60):
    """ray.kill returns at once; calls may still reach the old process for a moment."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        info = ray.get(actor.info.remote())  # max_task_retries=-1 rides over the restart
        if info["pid"] != old_pid:
            return info
        time.sleep(0.1)
    raise AssertionError("the killed actor did not restart")


@pytest.mark.ray
@pytest.mark.timeout(120)
def test_true_manifold_actor_decodes_the_data(ray_local, fonts, tmp_path):
    """The FONTS true manifold through the same interface: decoding served theta gives the images."""
    from raysweep.data import load_dataset
    from raysweep.tune.actors import ensure_manifold_actors, teardown
    from raysweep.tune.manifold_client import manifold_from_actors

    handles = ensure_manifold_actors(fonts, ["true"], str(tmp_path), SHARE)
    actor = handles.actors["true"][None]
    codes = ray_local.get(actor.codes.remote("test"))
    manifold = manifold_from_actors(handles.names()["true"], device=torch.device("cpu"))
    ds = load_dataset("fonts", **fonts.options)
    idx = codes["idx"][:8]
    x = manifold.decode(codes["z"][:8], codes["ctx"][:8])
    assert (x - ds.test.batch(idx).x).abs().max() <= 1 / 255 + 1e-4
    from raysweep.tune import manifold_client

    cached = manifold_client._CACHE[handles.names()["true"]][1]
    manifold_from_actors(handles.names()["true"], device=torch.device("cpu"))
    assert manifold_client._CACHE[handles.names()["true"]][1] is cached  # not fetched again
    served = ray_local.get(actor.decode.remote(codes["z"][:8], codes["ctx"][:8]))
    assert torch.allclose(served, x, atol=1e-6)
    teardown(handles)


@pytest.mark.ray
@pytest.mark.timeout(180)
def test_vaegan_trainable_trains_classes_in_parallel(ray_local, fonts, tmp_path):
    """One Tune trial per class, a report per epoch; finished checkpoints land where actors look."""
    storage = str(tmp_path)
    # restarts 0: one-step models are collapsed by any measure, and this test counts one training's reports
    jobs = [vj.VAEGANJob(dataset=fonts.model_dump(), cls=c, lam=3.0, vaegan={"width": 0.125, "epochs": 2, "restarts": 0},
                         train_size=100) for c in (0, 1)]
    results = vt.train_vaegans(jobs, storage, cpu=1, gpu=0.25)
    assert not results.errors
    df = pd.DataFrame([r.metrics for r in results])
    assert sorted(df["training_iteration"]) == [2, 2]  # one report per epoch
    for job in jobs:
        assert vj.is_trained(storage, job) and vj.train_count(storage, job) == 1
    assert vt.train_vaegans(jobs, storage) is None  # nothing left to train

    # Actors asked to pre-train through Tune find both checkpoints and only load them.
    from raysweep.tune.actors import ensure_manifold_actors, teardown

    handles = ensure_manifold_actors(fonts, ["class"], storage, SHARE, classes=[0, 1],
                                     options=ManifoldOptions(vaegan={"width": 0.125, "epochs": 2}, train_size=100,
                                                             train_resources={"cpu": 1, "gpu": 0.25}))
    infos = ray_local.get([a.info.remote() for a in handles.all()])
    assert [i["trained_here"] for i in infos] == [False, False] and [i["train_count"] for i in infos] == [1, 1]
    teardown(handles)
