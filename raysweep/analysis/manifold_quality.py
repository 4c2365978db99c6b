"""The report's manifold section: how good the learned manifolds behind the on-manifold claims
are (the sweep's `manifolds` table, raysweep.vaegan.manifold_quality), with a warning when a
claim rests on manifolds below the documented quality (QUALITY_THRESHOLDS there).

A claim rests on a learned manifold when the trials ran an attack or a strategy of the class
or data manifold (onmanifold_class / onmanifold_data, random_latent, ...).
"""
from __future__ import annotations

import pandas as pd

from raysweep.analysis import load as L
from raysweep import storage
from raysweep.results import reader
from raysweep.vaegan.manifold_quality import QUALITY_THRESHOLDS

COLUMNS = ("kind", "class", "recon_l1", "inside_bound", "recon_acc", "clamped_acc", "clean_acc", "usable_share", "frechet",
           "latent_step_l2", "diversity", "attempts", "lam", "width", "epochs")


def read_manifolds(root: str) -> pd.DataFrame:
    """The manifolds table of a sweep's results directory (empty when it has none)."""
    tables = storage.resolve(root) / reader.TABLES
    return reader.read_kind(tables, "manifolds").to_pandas() if storage.is_dir(tables / "manifolds") else pd.DataFrame()


def learned_users(trials: pd.DataFrame) -> list[str]:
    """Attack keys and strategies of the trials that use a learned (class or data) manifold."""
    from raysweep.attacks import ATTACKS
    from raysweep.training.strategies import STRATEGIES

    names = L.attack_names(trials)
    used = [k for k, n in names.items() if n in ATTACKS and ATTACKS.get(n).needs in ("class", "data")]
    used += [s for s in L.strategies_in(trials) if s in STRATEGIES and STRATEGIES.get(s).needs in ("class", "data")]
    return list(dict.fromkeys(used))  # an attack and a strategy may share a name


def section(tables: L.Tables) -> list[str]:
    df = read_manifolds(tables.root)
    users = learned_users(tables.trials)
    lines = ["## Learned manifolds", ""]
    if df.empty:
        note = "- no manifolds table (no learned manifold was used, or the sweep predates it)"
        if users:
            note += f"; **warning:** {', '.join(users)} rest on learned manifolds of unknown quality"
        return lines + [note, ""]
    lines += ["Per VAE-GAN, on held-out test images of its class: reconstruction error per pixel, share of "
              "codes inside the attack's [-2,2]^10 bound, a normally trained classifier's accuracy on "
              "reconstructions, on the clamped codes' images the attack starts from, and on the images; the "
              "usable share of attacked samples, the Frechet "
              "distance of prior samples in that classifier's features, and the image-space L2 of a "
              "latent eta step; the reconstruction diversity on training images and the trainings it took "
              "(a collapsed model, diversity < 0.25, is retrained with the next seed: raysweep/vaegan/collapse.py).", "",
              "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for _, r in df.sort_values(["kind", "class"]).iterrows():
        # a table written before a column existed has no such cell: n/a keeps the row aligned
        cells = ["n/a" if c not in r or pd.isna(r[c]) else f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c])
                 for c in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Documented quality (raysweep/vaegan/manifold_quality.py): "
              + ", ".join(f"`{k}` >= {v:g}" for k, v in QUALITY_THRESHOLDS.items()), ""]
    below = df[df["below"].fillna("") != ""]
    if len(below) and users:
        which = ", ".join(f"{r['kind']} {int(r['class'])} ({r['below']})" for _, r in below.iterrows())
        lines += [f"**Warning:** {', '.join(users)} rest on {len(below)} of {len(df)} learned manifolds below the "
                  f"documented quality: {which}. Claims decided on them (on-manifold robustness with learned "
                  "manifolds, on-class-manifold adversarial training) measure the approximation as much as the "
                  "classifier.", ""]
    elif users:
        lines += [f"All {len(df)} learned manifolds meet the documented quality.", ""]
    return lines
