"""How good the learned manifolds behind the on-manifold claims are (the sweep's `manifolds`
table, raysweep.manifold.quality): the report's manifold section, with a warning when a
claim rests on manifolds below the documented quality (QUALITY_THRESHOLDS there), and the gate
that makes a learned manifold's claim verdict inconclusive then: a verdict about
a VAE-GAN that does not model its class measures the approximation, not the classifier (Sec. 3.4:
"on F-MNIST ... not close enough to real generalization errors").

A claim rests on a learned manifold when the trials ran an attack or a strategy of the class
or data manifold (onmanifold_class / onmanifold_data, random_latent, ...).
"""
from __future__ import annotations

from typing import Optional

import pandas as pd

from raysweep._core import storage
from raysweep.analysis import claims_base as B
from raysweep.analysis import load as L
from raysweep.analysis import manifold_kinds as MK
from raysweep.attacks import ATTACKS
from raysweep.manifold.quality import INSIDE_BOUND_PRIOR, QUALITY_THRESHOLDS, recon_ratio, shortfalls
from raysweep.results import reader
from raysweep.training.strategies import STRATEGIES

COLUMNS = ("kind", "class", "recon_l1", "inside_bound", "recon_acc", "clamped_acc", "clean_acc", "recon_ratio",
           "usable_share", "frechet",
           "latent_step_l2", "diversity", "attempts", "lam", "width", "steps", "epochs")


def read_manifolds(root: str) -> pd.DataFrame:
    """The manifolds table of a sweep's results directory (empty when it has none)."""
    tables = storage.resolve(root) / reader.TABLES
    return reader.read_kind(tables, "manifolds").to_pandas() if storage.is_dir(tables / "manifolds") else pd.DataFrame()


def _below(row: pd.Series) -> list[str]:
    """Why one manifolds-table row fails the documented quality (measures below their threshold,
    unknown, or a collapsed model), read against today's thresholds (raysweep.manifold.quality)."""
    return list(shortfalls(row.to_dict()).values())


def quality_blocker(quality: Optional[pd.DataFrame], manifold: Optional[str]) -> Optional[str]:
    """Why claims decided on a learned manifold cannot be read, or None (good quality, or not a
    learned manifold). No quality rows for its kind count as unknown quality."""
    if manifold not in MK.LEARNED:
        return None
    kind = MK.NEED_OF[manifold]
    rows = quality[quality["kind"] == kind] if quality is not None and "kind" in quality.columns else pd.DataFrame()
    if rows.empty:
        return f"{manifold} manifolds of unknown quality (no quality rows in the manifolds table)"
    bad = [(r.get("class"), _below(r)) for _, r in rows.iterrows()]
    bad = [(c, b) for c, b in bad if b]
    if not bad:
        return None
    which = "; ".join(f"class {c}: {', '.join(b)}" if c is not None and c >= 0 else ", ".join(b) for c, b in bad)
    return f"{len(bad)} of {len(rows)} {manifold} manifolds below the documented quality ({which})"


def gate(results: list[B.ClaimResult], quality: Optional[pd.DataFrame]) -> list[B.ClaimResult]:
    """Learned-manifold verdicts made inconclusive where their manifolds fail the quality bar."""
    for r in results:
        reason = quality_blocker(quality, r.manifold)
        if reason:
            r.block(reason)
    return results


def learned_users(trials: pd.DataFrame) -> list[str]:
    """Attack keys and strategies of the trials that use a learned (class or data) manifold."""
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
    df = df.assign(recon_ratio=[recon_ratio(r) for _, r in df.iterrows()])
    for _, r in df.sort_values(["kind", "class"]).iterrows():
        # a table written before a column existed has no such cell: n/a keeps the row aligned
        cells = ["n/a" if c not in r or pd.isna(r[c]) else f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c])
                 for c in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Documented quality (raysweep/manifold/quality.py): "
              + ", ".join(f"`{k}` >= {v:g}" for k, v in QUALITY_THRESHOLDS.items())
              + f" (`recon_ratio` = recon_acc / clean_acc; a standard normal prior puts {INSIDE_BOUND_PRIOR:.2f} "
              "of its codes inside the bound)", ""]
    # read against today's thresholds, not the `below` cell a table was written with
    below = [(r, _below(r)) for _, r in df.iterrows()]
    below = [(r, b) for r, b in below if b]
    if len(below) and users:
        which = ", ".join(f"{r['kind']} {int(r['class'])} ({', '.join(b)})" for r, b in below)
        lines += [f"**Warning:** {', '.join(users)} rest on {len(below)} of {len(df)} learned manifolds below the "
                  f"documented quality: {which}. Claims decided on them (on-manifold robustness with learned "
                  "manifolds, on-class-manifold adversarial training) measure the approximation as much as the "
                  "classifier.", ""]
    elif users:
        lines += [f"All {len(df)} learned manifolds meet the documented quality.", ""]
    return lines
