"""The VAE-GAN schedule in optimiser steps (raysweep.vaegan.schedule):
the paper's steps per data set, the lr at given steps, `steps` and `epochs` from a spec, resumes
mid-pass, and a class with too few images for the steps (a UserError before anything is written)."""
import pytest
import torch

from test_collapse import fonts  # noqa: F401  (the 3-font FONTS fixture, one home)
from raysweep._core.errors import UserError
from raysweep.vaegan import job as vj
from raysweep.vaegan import fit as vfit
from raysweep.vaegan.config import VAEGANConfig, paper_steps_per_epoch
from raysweep.vaegan.schedule import BatchStream, schedule
from raysweep.vaegan.fit import train_vaegan


def _images(n, seed=0):
    return torch.randint(0, 256, (n, 1, 28, 28), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


@pytest.mark.parametrize("dataset, cls, per_epoch, steps", [
    ("fonts", 0, 960, 9_600),       # 96,000 images a class, 10 epochs
    ("fonts", None, 9_600, 96_000),  # the class-agnostic model: all 960,000
    ("fmnist", 4, 60, 3_600),       # 6,000 a class, 60 epochs
    ("emnist", 1, 240, 7_200),      # 24,000 a class, 30 epochs
])
def test_paper_schedule_in_steps(dataset, cls, per_epoch, steps):
    cfg = VAEGANConfig.for_dataset(dataset, (1, 28, 28), cls)
    assert paper_steps_per_epoch(dataset, cls, 100) == cfg.steps_per_epoch == per_epoch
    many = 100_000 if cls is None else 10_000  # enough images that no pass limit applies
    assert schedule(cfg, many).steps == steps and schedule(cfg, many).epochs == cfg.epochs


def test_a_smaller_data_set_still_trains_the_paper_steps():
    """6,000 or 4,000 F-MNIST images of a class: 3,600 steps either way (60 or 90 passes)."""
    cfg = VAEGANConfig.for_dataset("fmnist", (1, 28, 28), 0)
    full, fewer = schedule(cfg, 6000), schedule(cfg, 4000)
    assert full.steps == fewer.steps == 3600 and (full.passes, fewer.passes) == (60, 90)


def test_lr_at_given_steps_decays_once_per_paper_epoch():
    sched = schedule(VAEGANConfig.for_dataset("fmnist", (1, 28, 28), 0), 6000)
    lr = lambda step: sched.lr(0.005, 0.9, step)  # noqa: E731
    assert lr(0) == lr(59) == 0.005
    assert lr(60) == pytest.approx(0.0045) and lr(119) == pytest.approx(0.0045)
    assert lr(3599) == pytest.approx(0.005 * 0.9 ** 59)


def test_spec_steps_truncate_the_paper_schedule_and_epochs_keep_counting_passes():
    steps = VAEGANConfig.for_dataset("fmnist", (1, 28, 28), 0, steps=500)
    sched = schedule(steps, 6000)
    assert (sched.steps, sched.steps_per_epoch, sched.epochs) == (500, 60, 9)
    assert sched.lr(0.005, 0.9, 499) == pytest.approx(0.005 * 0.9 ** 8)
    passes = VAEGANConfig.for_dataset("fonts", (1, 28, 28), 0, epochs=5)  # fonts-smoke's meaning, as before
    assert passes.steps_per_epoch is None and schedule(passes, 2000).steps == 5 * 20
    with pytest.raises(UserError, match="sets both steps and epochs"):
        VAEGANConfig.for_dataset("fmnist", (1, 28, 28), 0, steps=500, epochs=5)
    with pytest.raises(UserError, match="steps must be at least 1"):
        VAEGANConfig.for_dataset("fmnist", (1, 28, 28), 0, steps=0)


def test_celeba_epochs_stay_passes_over_a_class():
    cfg = VAEGANConfig.for_dataset("celeba", (3, 56, 48), 1)
    assert cfg.steps_per_epoch is None and schedule(cfg, 76_000).steps == 30 * 760


def test_training_runs_the_schedule_step_by_step(monkeypatch):
    """7 steps in epochs of 3 over 120 images in batches of 50 (passes of 3 batches): epochs of
    3, 3 and 1 steps at lr 0.005, 0.0045, 0.00405; every step a batch of the stream's rows."""
    seen = []
    real_step = vfit.train_step
    monkeypatch.setattr(vfit, "train_step", lambda m, o, x, eps, lam: seen.append(len(x)) or real_step(m, o, x, eps, lam))
    cfg = VAEGANConfig(width=0.125, batch_size=50, steps=7, steps_per_epoch=3)
    history = []
    _, last = train_vaegan(_images(120), cfg, seed=0, on_epoch=lambda e, m, s: history.append(m))
    assert seen == [50, 50, 20, 50, 50, 20, 50]
    assert [m["steps"] for m in history] == [3, 6, 7] and last["steps"] == 7
    assert [m["lr"] for m in history] == pytest.approx([0.005, 0.0045, 0.00405])


def test_every_pass_visits_every_image_once():
    stream = BatchStream(130, 50, 10, seed=1)
    for p in range(2):
        rows = torch.cat([stream.at(p * 3 + i)[0] for i in range(3)])
        assert sorted(rows.tolist()) == list(range(130))


def test_resume_mid_pass_matches_the_uninterrupted_run():
    """Epochs of 2 steps over passes of 3 batches: the resume at epoch 1 starts mid-pass."""
    cfg = VAEGANConfig(width=0.125, batch_size=50, steps=6, steps_per_epoch=2)
    x, states = _images(150, 2), []
    full, _ = train_vaegan(x, cfg, seed=3, on_epoch=lambda e, m, s: states.append(s))
    resumed, _ = train_vaegan(x, cfg, seed=3, state=states[0], start_epoch=states[0]["next_epoch"])
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k


@pytest.mark.parametrize("n, phrase", [(50, "hold 50 images: 60 steps of batch 100"),
                                       (1000, "would show each one 360 times")])
def test_too_few_images_for_the_steps_is_a_user_error(n, phrase):
    cfg = VAEGANConfig.for_dataset("fmnist", (1, 28, 28), 0, steps=None if n > 100 else 60)
    with pytest.raises(UserError, match=phrase) as e:
        train_vaegan(_images(n), cfg, seed=0)
    assert "\n" not in str(e.value) and "train_size" in str(e.value)


def test_a_job_with_too_few_images_fails_before_anything_is_written(fonts, tmp_path, capsys):
    job = vj.VAEGANJob(dataset=fonts.model_dump(), cls=1, lam=3.0, train_size=30, vaegan={"width": 0.125})
    with pytest.raises(UserError, match=r"fonts class 1 \(train_size 30\) hold 30 images: 9600 steps"):
        vj.fit_job(job, str(tmp_path))
    assert list(tmp_path.iterdir()) == []  # no counter, progress or partial state
    done = vj.VAEGANJob(**{**job.to_dict(), "vaegan": {"width": 0.125, "steps": 2, "batch_size": 10}})
    vj.fit_job(done, str(tmp_path))  # the control: a schedule the 30 images can carry trains
    assert vj.load_final(str(tmp_path), done)[1].metrics["steps"] == 2
    assert vj.read_progress(str(tmp_path), done)["steps_done"] == 2


@pytest.mark.parametrize("every_s, seen", [(0.0, [0, 1, 2, 3, 4, 5, 6]), (3600.0, [0, 6])])
def test_progress_is_written_within_an_epoch(fonts, tmp_path, monkeypatch, every_s, seen):
    """A 6-step schedule is one epoch: with PROGRESS_EVERY_S 0 every step is written (what the
    sweep's progress line shows while a short schedule trains); the control, an interval longer
    than the run, writes only the start and the epoch's end, as per-epoch progress did."""
    writes = []
    real = vj.write_progress
    monkeypatch.setattr(vj, "PROGRESS_EVERY_S", every_s)
    monkeypatch.setattr(vj, "write_progress", lambda where, job, sched, done, step_s: (
        writes.append(done), real(where, job, sched, done, step_s)))
    job = vj.VAEGANJob(dataset=fonts.model_dump(), cls=1, lam=3.0, train_size=30,
                       vaegan={"width": 0.125, "steps": 6, "batch_size": 10})
    vj.fit_job(job, str(tmp_path))
    assert sorted(set(writes)) == seen and writes[-1] == 6
    final = vj.read_progress(str(tmp_path), job)
    assert final["steps_done"] == final["steps"] == 6 and final["epochs_done"] == final["epochs"] == 1
    assert final["step_s"] > 0
