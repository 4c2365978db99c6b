"""Evaluation of a fused pack: each member's row as `evaluate_trial` writes it alone, with the
test error and the image-space attacks run on all members at once.

On a GPU one small model's forward pass is launch-bound, so the pack's test error
(`evaluate_packed`) and its L-inf / L2 Adam-PGD attacks (`attack_packed`: every member attacks
the same test rows, each from its own seeded generator, as `run_attack` seeds it) cost about what
one member's do. Attacks through a manifold or a source model, distances and the sample pictures
then run per member, on the results the pack produced; each member's evaluation time is its own
part plus its share of the pack's. The attacks are built once for the whole pack.
"""
from __future__ import annotations

import time
from typing import Any, Sequence

import torch

from raysweep.attacks.records import AttackResult
from raysweep.config.trial_config import TrialConfig
from raysweep.data import Dataset
from raysweep.training.packed import evaluate_packed
from raysweep.training.packed_attack import attack_packed, has_packed_form
from raysweep.trial.attack_runs import attacked_rows, build_attacks
from raysweep.trial.evaluate import evaluate_trained, test_split
from raysweep.trial.protocol import TrialOutput


def evaluate_pack(members: Sequence[TrialConfig], models: Sequence[torch.nn.Module], stats: Sequence[dict[str, Any]],
                  ds: Dataset, manifolds: dict[str, Any], device: torch.device) -> list[TrialOutput]:
    """One TrialOutput per member (members of one cell: one evaluation spec)."""
    start = time.perf_counter()
    ev = members[0].evaluate
    errors = evaluate_packed(models, test_split(ds, ev), device, fused=True)
    for model in models:
        model.eval()
    attacks = build_attacks(ev)
    results: list[dict[str, AttackResult]] = [{} for _ in members]
    for a in ev.attacks:
        attack = attacks[a.key].attack
        if not has_packed_form(attack):
            continue  # evaluate_trial runs it per member
        batch = ds.test.batch(attacked_rows(len(ds.test), a.samples), device)
        per_model = attack_packed(attack, models, batch, [m.seed for m in members], fused=True,
                                  keep_images=bool(ev.distances_of(a)))
        for r, res in zip(results, per_model):
            r[a.key] = res
    share = (time.perf_counter() - start) / len(members)
    outs = []
    for cfg, model, st, err, res in zip(members, models, stats, errors, results):
        out = evaluate_trained(cfg, model, st, ds, manifolds, device, test_error=err, results=res, attacks=attacks)
        out.row["eval_time_s"] += share
        outs.append(out)
    return outs
