"""Spec -> resolved trials: the registries (catalog.py), the one validation pass (validate.py,
eval_spec.py for `raysweep evaluate`), the grid expanded into typed trial configs with their ids
and registry facts (trials.py, facts.py), and what the driver plans from them: resource requests
and the dry-run plan (plan.py, cost.py), packs (packing.py). No Ray here."""
