"""How long a trial runs, estimated before it runs: the `--dry-run` cost and the driver's
longest-first order. Each constant is a measurement, cited where it was made (no Ray here)."""
from __future__ import annotations

import math

from raysweep.config.schema import SweepSpec
from raysweep.config.trial_config import TrialConfig
from raysweep.data.fonts import LETTERS
from raysweep.data.fonts_dataset import TEST_PER_GLYPH
from raysweep.training.epoch_log import EPOCH_TEST_SAMPLES
from raysweep.vaegan.config import VAEGANConfig

# Effective forward+backward images/s of the paper's CNN per trial, by device kind.
# cpu: 1 thread per trial; benchmarks/bench_pack.py measured sequential_images_per_s 4800-5200
# on this 2-core machine, and the fonts-smoke demo (30 trials) measured 0.40 CPU-hours where the
# old 2000 images/s figure said 0.88: 2000 * 0.88 / 0.40 = 4400, i.e. the benchmark's rate less
# the per-trial overhead. No GPU figure: none was measured (no GPU lent), so GPU runs use the
# CPU figure and their estimate is labelled "not measured" only by this comment.
CALIBRATION_IMAGES_PER_S = {"cpu": 4400.0}
# One inner attack iteration of adversarial training per training image, in training images: the
# attack runs on half the batch, input gradient only, on the folded eval-mode copy (fast_model).
# Measured from train_time_s of the Fig. 7 ablation (sweeps/fonts-fig7-ablation.yaml, CNN,
# 10 and 40 iterations, N 250-16,000): (adversarial / normal - 1) / iterations = 0.25-0.49, median
# 0.35 (it was 0.5, "half the batch", which overestimated a 40-iteration trial by about 1.4x).
INNER_ITERATION_COST = 0.35
# Inner iterations on a manifold also decode (and backpropagate through) it, per training image,
# by the manifold the strategy needs. Measured from train_time_s (the fonts-medium runs, CNN, 40
# iterations, N 250 and 1,000): the true manifold (FONTS' renderer) 0.72-0.78; a class VAE-GAN
# at the paper's width 6.6-7.5, and at width 0.25 (the demo, 10 iterations) 1.15, so a VAE-GAN's
# cost scales as width ** VAEGAN_WIDTH_EXPONENT (log(7.1 / 1.15) / log(4) = 1.3).
MANIFOLD_ITERATION_COST = {"true": 0.75, "class": 7.1, "data": 7.1}
VAEGAN_WIDTH_EXPONENT = 1.3

# Training cost of one image relative to the paper's CNN on 28x28x1 images, one CPU thread,
# measured by benchmarks/bench_cost_model.py (keys: architecture, H x W x C). An architecture or
# shape not listed costs as its 28x28x1 entry times its pixel count, or as the CNN when unknown.
# Measured 2026-12-02 (10 steps of batch 100 each, a 2-core machine): ResNet-13 at the authors'
# 64 base channels costs about 190 CNN images per image on CPU, which the old estimate ignored.
ARCH_COST: dict[tuple[str, str], float] = {
    ("cnn", "28x28x1"): 1.0, ("cnn", "56x48x3"): 4.6, ("mlp", "28x28x1"): 0.25, ("mlp", "56x48x3"): 2.1,
    ("resnet13", "28x28x1"): 187.0, ("resnet13", "56x48x3"): 977.0, ("vgg", "28x28x1"): 25.0, ("vgg", "56x48x3"): 133.0,
}
# Test-split sizes of the built-in data sets when the spec does not set one (FONTS: the data set's
# own TEST_PER_GLYPH per (font, letter), the bundled fonts are about 23; EMNIST letters,
# Fashion-MNIST and CelebA as read).
TEST_IMAGES = {"emnist": 40000, "fmnist": 10000, "celeba": 19962}
# Classes and training images per class where a VAE-GAN's steps count passes over its images
# (CelebA: raysweep.vaegan.config), and the class count of every built-in data set.
CLASSES = {"fonts": 10, "emnist": 10, "fmnist": 10, "celeba": 2}
TRAIN_IMAGES_PER_CLASS = {"celeba": 81_000}
BUNDLED_FONTS = 23
# A forward pass (test error) costs about a third of a training step (forward + backward).
FORWARD_COST = 1 / 3

# Image shapes (C, H, W) of the built-in data sets that are not 28x28x1 (Sec. 3.1: CelebA 56x48).
IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {"celeba": (3, 56, 48)}


# A `width` option scales channels: cost ~ width ** WIDTH_EXPONENT, measured on ResNet-13
# (benchmarks/bench_cost_model.py --width 0.25: 20x the CNN against 187x at width 1, one thread;
# below 2, the FLOP count's exponent, because small layers do not use the cores as well).
WIDTH_EXPONENT = 1.6


def arch_cost(arch: str, shape: tuple[int, int, int], width: float = 1.0) -> float:
    """One training image of `arch` (at `width`) on `shape` in paper-CNN-on-28x28 images (ARCH_COST)."""
    c, h, w = shape
    key = (arch, f"{h}x{w}x{c}")
    base = ARCH_COST[key] if key in ARCH_COST else ARCH_COST.get((arch, "28x28x1"), 1.0) * (c * h * w) / 784
    return base * float(width) ** WIDTH_EXPONENT


def inner_iteration_cost(spec: SweepSpec, trial: TrialConfig) -> float:
    """Training images one inner iteration of the trial's strategy costs per training image."""
    need = trial.facts.strategy_manifold
    if need not in MANIFOLD_ITERATION_COST:
        return INNER_ITERATION_COST
    cost = MANIFOLD_ITERATION_COST[need]
    if need in ("class", "data"):
        cost *= float(spec.manifolds.options.vaegan.get("width", 1.0)) ** VAEGAN_WIDTH_EXPONENT
    return cost


def test_images(spec: SweepSpec) -> int:
    """Images the final test error scores: evaluate.test_samples, else the test split's size."""
    opts = spec.dataset.options
    if spec.dataset.name == "fonts":
        size = opts.get("test_size") or TEST_PER_GLYPH * len(LETTERS) * (opts.get("max_fonts") or BUNDLED_FONTS)
    else:
        size = opts.get("test_size") or TEST_IMAGES.get(spec.dataset.name, 10000)
    return min(int(size), spec.evaluate.test_samples or int(size))


def estimate_seconds(spec: SweepSpec, trial: TrialConfig,
                     images_per_s: float = CALIBRATION_IMAGES_PER_S["cpu"]) -> float:
    """A rough run time of one trial: training images seen, scaled by the strategy's inner attack.

    images_per_s: CALIBRATION_IMAGES_PER_S (measured on CPU); adversarial strategies run their
    inner attack on half of every batch, each iteration costing INNER_ITERATION_COST training images
    per training image (40 iterations: about 15x normal training). Evaluation adds the attacks
    (each iteration one training image per sample) and, at FORWARD_COST, the final test error over
    test_images(spec) and the learning curve's EPOCH_TEST_SAMPLES per epoch: with a wide model
    on FONTS-1000's 160,000 test images that is minutes (measured: 120-190 s, ResNet-13 at 0.25).
    """
    seen = trial.n * spec.train.epochs
    inner = trial.strategy.params.get("iterations", 40) if trial.strategy.name != "normal" else 0
    train_s = seen * (1 + inner * inner_iteration_cost(spec, trial)) / images_per_s
    # resolved: restarts filled in; each min-eps bisection step is at most one more run of the attack
    attack_s = sum(a.samples * (a.restarts or 1) * a.params.get("iterations", 40) * (1 + (a.min_eps_steps or 0))
                   for a in trial.evaluate.attacks) / images_per_s
    scored = test_images(spec) + spec.train.epochs * EPOCH_TEST_SAMPLES
    attack_s += scored * FORWARD_COST / images_per_s
    shape = IMAGE_SHAPES.get(spec.dataset.name, (1, 28, 28))
    return (train_s + attack_s) * arch_cost(trial.arch.name, shape, trial.arch.options.get("width", 1.0))


# One VAE-GAN optimiser step (batch 100, 28x28x1: encoder, decoder and discriminator updates) in
# CPU seconds, one thread, at width 1, scaled as width ** VAEGAN_STEP_WIDTH_EXPONENT. Measured by
# benchmarks/bench_learned_manifold.py (CPU seconds per class / steps, 2-core machine): width
# 0.125 0.099 s a step (400 steps: 39.4 s), width 0.25 0.160 (100, 200, 400 steps: 15.6, 32.4,
# 64.1 s), so an exponent of log(0.160 / 0.099) / log(2) = 0.7, well under the FLOP count's 2
# because narrow layers leave the core idle; width 1 extrapolated.
VAEGAN_STEP_S = 0.42
VAEGAN_STEP_WIDTH_EXPONENT = 0.7


def vaegan_steps(spec: SweepSpec, cls) -> int:
    """Optimiser steps of the VAE-GAN for class `cls` (None: class-agnostic) under the spec's options."""
    if spec.manifolds.options.vaegan.get("steps") is not None:  # what the spec asks for, on any data set
        return int(spec.manifolds.options.vaegan["steps"])
    shape = IMAGE_SHAPES.get(spec.dataset.name, (1, 28, 28))
    cfg = VAEGANConfig.for_dataset(spec.dataset.name, shape, cls, **spec.manifolds.options.vaegan)
    if cfg.steps is not None:
        return cfg.steps
    if cfg.steps_per_epoch is not None:
        return cfg.epochs * cfg.steps_per_epoch
    images = TRAIN_IMAGES_PER_CLASS.get(spec.dataset.name, 6000) * (1 if cls is not None else CLASSES.get(spec.dataset.name, 10))
    images = min(images, spec.manifolds.options.train_size or images)
    return cfg.epochs * math.ceil(images / cfg.batch_size)


def vaegan_seconds(spec: SweepSpec, trials: list[TrialConfig]) -> float:
    """CPU seconds of training the learned manifolds the trials need (once per sweep, by the
    manifold actors): steps x VAEGAN_STEP_S x width ** VAEGAN_STEP_WIDTH_EXPONENT x pixels / 784."""
    kinds = sorted({k for t in trials for k in t.facts.manifolds} & {"class", "data"})
    if not kinds:
        return 0.0
    width = float(spec.manifolds.options.vaegan.get("width", 1.0))
    c, h, w = IMAGE_SHAPES.get(spec.dataset.name, (1, 28, 28))
    per_step = VAEGAN_STEP_S * width ** VAEGAN_STEP_WIDTH_EXPONENT * (c * h * w) / 784
    # the models raysweep.manifold.jobs trains: one per class for "class", one for "data"
    models = [cls for kind in kinds for cls in (range(CLASSES.get(spec.dataset.name, 10)) if kind == "class" else [None])]
    return sum(vaegan_steps(spec, cls) * per_step for cls in models)
