"""Fig. 2: test images with their regular and on-manifold adversarial examples and the
normalised difference, per data set, from the pictures the trials keep (raysweep.trial.
attack_runs.sample_images: the first few attacked test images of each attack, one restart).

One figure per data set; it shows the normally trained model at the largest N (first seed), so
the attacks are against an accurate classifier, as in the paper. Rows: test image, then per
attack (regular ones first, then on-manifold) the adversarial example and |x_adv - x| scaled
to [0, 1] per image (the paper's "normalised difference"); a title says whether it succeeded.
Usage: python -m raysweep.analysis.fig_samples DIR
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import matplotlib.pyplot as plt
import torch

from raysweep.analysis import plotting as P
from raysweep.analysis import load as L
from raysweep._core import storage
from raysweep.results.store import SAMPLES

NAME = "fig_samples"
ORDER = (L.REGULAR, "transformation", "on-manifold")


def pick_trial(trials) -> Optional[str]:
    """The trial whose pictures stand for the data set: normal training, largest N, first seed."""
    t = trials[trials[L.STRATEGY] == "normal"] if (trials[L.STRATEGY] == "normal").any() else trials
    t = t.sort_values([L.N, L.SEED], ascending=[False, True])
    return None if t.empty else str(t[L.TRIAL_ID].iloc[0])


def load_samples(root: str, trial_id: str) -> Optional[dict]:
    """The pictures trial `trial_id` kept (root: the sweep's results directory), or None."""
    return storage.load_torch(storage.resolve(root) / SAMPLES / f"{trial_id}.pt")


def _show(ax, img: torch.Tensor, title: str = "") -> None:
    img = img.float()
    ax.imshow(img[0] if img.shape[0] == 1 else img.permute(1, 2, 0), cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([]), ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=7)


def normalised(diff: torch.Tensor) -> torch.Tensor:
    d = diff.abs()
    return d / d.flatten().max().clamp_min(1e-12)


def ordered_attacks(samples: dict, trials) -> list[str]:
    names = L.attack_names(trials)
    fam = {k: L.attack_family(names.get(k, k)) or "" for k in samples}
    return sorted(samples, key=lambda k: (ORDER.index(fam[k]) if fam[k] in ORDER else len(ORDER), k))


def draw_dataset(samples: dict, trials, title: str, out_dir: Path, name: str) -> Path:
    attacks = ordered_attacks(samples, trials)
    k = min(len(s["x"]) for s in samples.values())
    rows = 1 + 2 * len(attacks)
    fig, axes = plt.subplots(rows, k, figsize=(1.3 * k, 1.35 * rows), squeeze=False)
    first = samples[attacks[0]]
    for j in range(k):
        _show(axes[0][j], first["x"][j], f"test, y={int(first['label'][j])}")
        for i, a in enumerate(attacks):
            s = samples[a]
            ok = "success" if bool(s["success"][j]) else "no success"
            _show(axes[1 + 2 * i][j], s["x_adv"][j], f"{a}: {ok}")
            _show(axes[2 + 2 * i][j], normalised(s["x_adv"][j].float() - s["x"][j].float()), f"{a}: |diff|")
    fig.suptitle(title, fontsize=9)
    return P.save(fig, out_dir, name)


def draw(tables: L.Tables, out_dir: Path) -> P.FigureOutcome:
    """Fig. 2: test images, adversarial examples and normalised differences, per data set."""
    trials = tables.trials
    if not L.has_columns(trials, L.TRIAL_ID, L.STRATEGY, L.N, L.SEED):
        return P.FigureOutcome(NAME, note="no trial rows with ids")
    paths = []
    for dataset, part in (trials.groupby(L.DATASET) if L.DATASET in trials.columns else [("data", trials)]):
        trial_id = pick_trial(part)
        samples = load_samples(tables.root, trial_id) if trial_id else None
        if not samples:
            continue
        row = part[part[L.TRIAL_ID] == trial_id].iloc[0]
        title = (f"{dataset}: {row[L.STRATEGY]} training, N={int(row[L.N])}, seed {int(row[L.SEED])}, "
                 f"test error {row[L.TEST_ERROR]:.3f}")
        paths.append(draw_dataset(samples, trials, title, out_dir, f"{NAME}_{dataset}"))
    if not paths:
        return P.FigureOutcome(NAME, note="no sample pictures stored (trials written before raysweep kept them)")
    return P.FigureOutcome(NAME, paths[0], note=", ".join(str(p) for p in paths[1:]))


if __name__ == "__main__":
    sys.exit(P.standalone(draw))
