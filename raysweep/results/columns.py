"""What every result column means, in one place: raysweep.results.schema attaches each meaning to
its Arrow field (field metadata "doc", so a Parquet file carries its own documentation),
`raysweep tables --describe` prints them, and the README's column tables are generated from them.

A column block that repeats per attack or distance is documented once under its pattern
(`<attack>.robust_acc`, `<method>.<attack>.median_ratio`); `doc_of` finds the pattern of a
concrete name. Sec. numbers are the paper's (Stutz, Hein, Schiele, CVPR 2019).
"""
from __future__ import annotations

from typing import Optional

DOC = b"doc"  # the field-metadata key

TRIAL = {
    "sweep": "the sweep's (or evaluation's) name",
    "trial_id": "hash of the resolved config, the data's content hash and the results version",
    "status": "ok, or failed after all retries (then `error` says why)",
    "error": "the last error of a failed trial",
    "dataset": "registered data set name", "dataset_options": "the data set's options (JSON)",
    "n": "training-set size N (class-balanced subset; 0 when unknown, e.g. an evaluated model)",
    "seed": "seeds the subset, initialisation, batch order and attack starts",
    "arch": "classifier (registry name with options, or an evaluated model's source)",
    "strategy": "training strategy label (an evaluated model's label)", "strategy_name": "registered strategy",
    "strategy_family": "the strategy's family from its registry entry (normal, regular, onmanifold, ...)",
    "train.epochs": "training epochs", "train.batch_size": "batch size", "train.lr": "initial learning rate",
    "train.lr_decay": "learning-rate decay per epoch", "train.weight_decay": "weight decay",
    "config_json": "the whole resolved trial config (JSON)",
    "data_hash": "content hash of the data set", "results_version": "bumped when raysweep's numbers change",
    "manifolds_json": "the learned manifolds' settings, for trials that use them (JSON)",
    "test_error": "error on the test split (or its first `evaluate.test_samples` images)",
    "train_error": "error on the clean training batches of the last epoch",
    "clean_acc": "accuracy on the test images every attack attacked (the robust accuracies' common set)",
    "robust_acc_worst": "share of those images classified correctly and broken by no attack and no restart: "
                        "the worst case over all attacks run, per image (as AutoAttack reports)",
    "train_time_s": "seconds training", "eval_time_s": "seconds evaluating (test error, attacks, distances)",
    "curve_time_s": "seconds spent on the per-epoch learning-curve test error",
    "started_at": "unix seconds the trial started", "finished_at": "unix seconds it finished",
    "device": "torch device the trial ran on", "node_ip": "Ray node", "gpu_ids": "GPU ids Ray gave the trial",
    "resumed_from_epoch": "epoch a retried trial resumed from (null: ran from the start)",
    "raysweep_version": "raysweep version", "git_commit": "raysweep checkout's commit",
    "schema_version": "version of these tables' layout",
}
ATTACK = {
    "attack": "the registered attack this label configures", "family": "its family (regular, onmanifold, ...)",
    "success_rate_attempt": "successful (sample, restart) pairs / correctly classified valid pairs (the authors' rate)",
    "success_rate_any": "samples with a successful restart / correctly classified valid samples (Sec. 3.1)",
    "mean_linf": "mean L-inf norm of successful perturbations", "mean_l2": "mean L2 norm of successful perturbations",
    "mean_l1": "mean L1 norm of successful perturbations",
    "n_samples": "test images attacked", "n_correct": "of those, correctly classified and valid",
    "n_excluded": "of those, invalid for this attack (e.g. no on-manifold start)",
    "clean_acc": "share of the attacked images whose reference image is classified correctly (the image "
                 "itself; its reconstruction dec(mu) for learned on-manifold attacks)",
    "robust_acc": "share of the attacked images classified correctly, valid, and broken by no restart",
    "n_outside_bound": "of the attacked images, those whose encoder mean fell outside [-2,2]^d (latent attacks; "
                       "0 for image-space ones)",
    "n_clamped": "of those, clamped into the box and kept (valid); check that n_clamped / n_correct does not move "
                 "with N (the selection effect, raysweep/manifold/learned.py)",
    # attacks with min_eps_steps only (raysweep.attacks.min_eps)
    "median_min_eps": "median over the correctly classified attacked images of each one's smallest successful eps, "
                      "bisected with the attack between 0 and its eps (min_eps_steps steps; an upper bound on the "
                      "true minimum, at most eps / 2^steps above an eps where the attack found none); an image "
                      "never broken at eps counts as eps",
    "mean_min_eps": "the same images' mean smallest successful eps (censored as eps); 1 - mean / eps is the success "
                    "rate averaged over all eps' in [0, eps], claim 4's measure (Sec. 3.5)",
    "n_censored": "correctly classified images the attack never broke at its eps (their smallest eps counted as eps)",
}
DISTANCE = {
    "n": "successful adversarial examples measured",
    "mean_dist": "mean ||x_adv - pi(x_adv)||_2 to the manifold (Sec. 3.2)", "median_dist": "its median",
    "mean_delta_l2": "mean ||x_adv - x||_2", "median_ratio": "median of distance / ||x_adv - x||_2 (Fig. 3)",
}
EXAMPLE = {
    "sweep": TRIAL["sweep"], "trial_id": TRIAL["trial_id"], "n": TRIAL["n"], "seed": TRIAL["seed"],
    "strategy": TRIAL["strategy"], "arch": TRIAL["arch"], "schema_version": TRIAL["schema_version"],
    "attack": "attack label", "sample": "test-split row", "restart": "restart number", "label": "true class",
    "clean_pred": "prediction on the clean image (or the attack's reference image)", "adv_pred": "prediction after the attack",
    "correct": "clean_pred == label (the attack's reference image for learned on-manifold attacks)",
    "valid": "the attack could run on this sample (an on-manifold start exists)",
    "success": "an adversarial example was found for a correct, valid sample (false for a sample "
               "misclassified before the attack: the paper's success)",
    "first_success_iter": "iteration of the first success (-1: none)",
    "linf": "L-inf norm of x_adv - x_ref", "l2": "L2 norm of x_adv - x_ref", "l1": "L1 norm of x_adv - x_ref",
    "latent_norm": "norm of the latent perturbation (latent attacks)",
    "outside_bound": "the sample's encoder mean fell outside [-2,2]^d before it was clamped or excluded", "loss": "the attack's final objective",
    "delta_l2": "||x_adv - x||_2 to the real test image",
    "dist_true": "distance to the true manifold (FONTS)", "dist_knn": "distance to the kNN-approximated manifold",
    "dist_class": "distance to the learned class manifold", "dist_data": "distance to the learned class-agnostic manifold",
}
EPOCH = {
    "sweep": TRIAL["sweep"], "trial_id": TRIAL["trial_id"], "strategy": TRIAL["strategy"], "arch": TRIAL["arch"],
    "n": TRIAL["n"], "seed": TRIAL["seed"], "epoch": "epoch, counted from 1", "train_loss": "mean training loss",
    "train_error": "error on the clean training batches as trained on",
    "test_error": "error on a fixed sample of test images, the same for every trial (learning curves)",
    "lr": "learning rate in this epoch", "epoch_time_s": "seconds", "images_per_s": "training images per second",
    "adv_success": "share of the perturbed half the model (eval mode) got wrong at the kept iterate",
    "adv_loss": "mean cross-entropy of the perturbed half at the kept iterate",
    "adv_start_success": "share of the perturbed half already wrong at the attack's random start",
    "adv_start_loss": "mean cross-entropy of the perturbed half at the random start",
    "adv_drift_l2": "mean L2 distance the inner optimiser moved from its random start (0: random noise)",
    "adv_delta_l2": "mean ||x_adv - x||_2 of the perturbed half",
    "schema_version": TRIAL["schema_version"],
}
MANIFOLD = {
    "sweep": TRIAL["sweep"], "dataset": TRIAL["dataset"], "dataset_options": TRIAL["dataset_options"],
    "kind": "class (one VAE-GAN per class) or data (one class-agnostic VAE-GAN)",
    "class": "the class it models (-1: class-agnostic)", "job_key": "the training job's key (its storage folder)",
    "lam": "VAE-GAN weight lambda", "width": "network width factor",
    "epochs": "epochs of the schedule: paper-sized epochs (the lr decays once per epoch) unless "
              "the spec set `epochs`, then passes over the class's images",
    "steps": "optimiser steps trained (null: trained before steps were recorded)",
    "n_images": "training images of the class",
    "recon_l1": "mean |x - dec(mu(x))| per pixel on held-out images of the class",
    "inside_bound": "share of those images with ||mu(x)||_inf <= 2, the attack's bound "
                    "(a standard normal prior allows about 0.63 in 10 dimensions)",
    "mu_abs_max_median": "median of ||mu(x)||_inf", "recon_acc": "a normal classifier's accuracy on dec(mu(x))",
    "clean_acc": "the same classifier's accuracy on x", "clamped_acc": "its accuracy on dec(clamp(mu(x))), the attack's start",
    "frechet": "Frechet distance of penultimate features, held-out images vs prior samples",
    "latent_step_l2": "mean ||dec(mu + zeta) - dec(mu)||_2 for a random step ||zeta||_inf = eta",
    "usable_share": "clamped_acc / clean_acc: the share of samples the attack can count",
    "attempts": "trainings it took (posterior-collapse restarts)", "diversity": "reconstruction diversity of the kept model",
    "reference": "the normally trained classifier the accuracies use",
    "below": "measures below their documented threshold (empty: good enough to measure)",
    "schema_version": TRIAL["schema_version"],
}


def doc_of(name: str, table: str = "trials") -> Optional[str]:
    """The meaning of column `name` of `table` (trials, examples, epochs), patterns included; None if
    undocumented."""
    own = {"examples": EXAMPLE, "epochs": EPOCH, "manifolds": MANIFOLD}.get(table, TRIAL)
    if name in own:
        return own[name]
    if table != "trials":
        return None
    if name.startswith("strategy."):
        return "a strategy parameter" if name == "strategy.<param>" else f"strategy parameter {name[9:]!r}"
    parts = name.split(".")
    if len(parts) == 3 and parts[2] in DISTANCE:
        return DISTANCE[parts[2]]
    return ATTACK.get(parts[-1]) if len(parts) == 2 else None


def with_docs(schema, table: str):
    """`schema` (a pyarrow Schema) with each field's meaning as its metadata (DOC)."""
    import pyarrow as pa  # lazy: 0.14 s at import (measured); `raysweep tables --describe` reads DOC without it

    fields = [f.with_metadata({DOC: doc.encode()}) if (doc := doc_of(f.name, table)) else f for f in schema]
    return pa.schema(fields, metadata=schema.metadata)
