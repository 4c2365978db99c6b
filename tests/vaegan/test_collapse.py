"""Posterior collapse: the diversity measure and fit_job's restarts (raysweep.vaegan.collapse).

The measure is checked against models with known answers (one image for every input: 0; the
identity: 1); the restarts with the measure forced, so the test is about fit_job's bookkeeping:
which seed each attempt trains with, that a healthy first attempt is kept, that restarts stop at
cfg.restarts, and that a resumed partial state continues its own attempt.
"""
import pytest
import torch
from torch import nn

from raysweep.config.schema import DatasetSpec
from raysweep.vaegan import collapse
from raysweep.vaegan import job as vj
from raysweep.vaegan.fit import train_vaegan


class _Fixed(nn.Module):
    """Stand-in reconstructor: the identity, or one fixed image for every input (collapse)."""

    def __init__(self, fixed: bool):
        super().__init__()
        self.fixed = fixed
        self.p = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.full_like(x, 0.5) + self.p if self.fixed else x + self.p


def _images(n=40, seed=0):
    return torch.randint(0, 256, (n, 1, 28, 28), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def test_diversity_is_zero_for_one_image_and_one_for_the_identity():
    x = _images()
    assert collapse.reconstruction_diversity(_Fixed(fixed=True), x) == pytest.approx(0.0, abs=1e-9)
    assert collapse.reconstruction_diversity(_Fixed(fixed=False), x) == pytest.approx(1.0, abs=1e-9)
    assert collapse.collapsed(0.0) and not collapse.collapsed(1.0)


def test_attempt_seeds_invert():
    for seed in (0, 7):
        for attempt in range(4):
            assert collapse.attempt_of(seed, collapse.attempt_seed(seed, attempt)) == attempt
    assert collapse.attempt_seed(3, 0) == 3  # the first attempt is the job's own seed


@pytest.fixture(scope="module")
def fonts(tmp_path_factory):
    from raysweep.data import load_dataset

    opts = {"max_fonts": 3, "train_size": 300, "test_size": 60,
            "cache_dir": str(tmp_path_factory.mktemp("fonts-cache"))}
    load_dataset("fonts", **opts)
    return DatasetSpec(name="fonts", options=opts)


def _job(fonts, restarts=2, seed=5):
    return vj.VAEGANJob(dataset=fonts.model_dump(), cls=1, lam=3.0, seed=seed, train_size=30,
                        vaegan={"width": 0.125, "epochs": 1, "restarts": restarts})


def _forced(monkeypatch, verdicts):
    """Make the diversity check return the given values in order (and count its calls)."""
    calls = []

    def fake(model, images, seed=0):
        calls.append(seed)
        return verdicts[len(calls) - 1]

    monkeypatch.setattr(vj, "reconstruction_diversity", fake)
    return calls


def _weights_of_seed(fonts, job, seed):
    ds, images = vj.load_job_data(job)
    model, _ = train_vaegan(images, vj.vaegan_config(job, ds.image_shape), seed=seed)
    return model.state_dict()


def test_a_collapsed_model_is_retrained_with_the_next_seed(tmp_path, fonts, monkeypatch):
    job = _job(fonts)
    calls = _forced(monkeypatch, [0.01, 0.8])
    vj.fit_job(job, str(tmp_path), device=torch.device("cpu"))
    model, rec = vj.load_final(str(tmp_path), job)
    assert len(calls) == 2
    assert rec.metrics["attempts"] == 2 and rec.metrics["diversity"] == 0.8
    assert rec.metrics["seed_used"] == collapse.attempt_seed(job.seed, 1)
    assert vj.train_count(str(tmp_path), job) == 1  # one job, one fresh start
    want = _weights_of_seed(fonts, job, collapse.attempt_seed(job.seed, 1))
    for k, v in model.state_dict().items():
        assert torch.equal(v, want[k]), k


def test_a_healthy_model_is_kept_and_restarts_stop_at_the_limit(tmp_path, fonts, monkeypatch):
    job = _job(fonts)
    calls = _forced(monkeypatch, [0.9])
    vj.fit_job(job, str(tmp_path / "healthy"), device=torch.device("cpu"))
    assert len(calls) == 1
    assert vj.load_final(str(tmp_path / "healthy"), job)[1].metrics["seed_used"] == job.seed

    # Control: a model that always collapses is trained restarts + 1 times, then kept and recorded.
    job0 = _job(fonts, restarts=1)
    calls = _forced(monkeypatch, [0.01, 0.02, 0.03])
    vj.fit_job(job0, str(tmp_path / "always"), device=torch.device("cpu"))
    rec = vj.load_final(str(tmp_path / "always"), job0)[1]
    assert len(calls) == 2 and rec.metrics["attempts"] == 2 and rec.metrics["diversity"] == 0.02


def test_a_resumed_partial_state_continues_its_own_attempt(tmp_path, fonts, monkeypatch):
    """A worker killed during attempt 2 resumes attempt 2 (its state carries the seed)."""
    job = _job(fonts)
    job = vj.VAEGANJob(**{**job.to_dict(), "vaegan": {**job.vaegan, "epochs": 2}})
    real_save = vj.save_training_state
    saved_seeds = []

    def save_then_crash(path, st, cfg, seed):
        real_save(path, st, cfg, seed)
        saved_seeds.append(st["seed"])
        if seed == collapse.attempt_seed(job.seed, 1):
            raise RuntimeError("worker died")

    monkeypatch.setattr(vj, "save_training_state", save_then_crash)
    _forced(monkeypatch, [0.01])
    with pytest.raises(RuntimeError, match="worker died"):
        vj.fit_job(job, str(tmp_path), device=torch.device("cpu"), keep_partial=True)
    assert saved_seeds == [job.seed, job.seed, collapse.attempt_seed(job.seed, 1)]

    monkeypatch.setattr(vj, "save_training_state", real_save)
    calls = _forced(monkeypatch, [0.7])
    vj.fit_job(job, str(tmp_path), device=torch.device("cpu"), keep_partial=True)
    rec = vj.load_final(str(tmp_path), job)[1]
    assert len(calls) == 1 and rec.metrics["attempts"] == 2
    assert rec.metrics["seed_used"] == collapse.attempt_seed(job.seed, 1)
