"""A resolved trial's registry facts, derived once (Ray Tune's pattern: a trial's resources are
computed once, by its placement-group factory, and read everywhere else).

Which manifolds a trial needs, whether it needs the transfer attack's source model, the
families its strategy and attacks belong to, and whether it trains fused: each read off the
registry entries' metadata (raysweep._core.registry.Entry) here and carried on the trial's config as
`TrialConfig.facts`, so the driver, the plan and the trial never ask the registries again.
"""
from __future__ import annotations

from raysweep.config.schema import DEFAULT_TRIAL_FN, EvaluateSpec
from raysweep.config.trial_config import TrialConfig, TrialFacts
from raysweep._core.registry import MANIFOLD_KINDS
from raysweep.resolve.catalog import registries
from raysweep.training.packed_strategy import FUSED_STRATEGIES


def evaluation_facts(evaluate: EvaluateSpec) -> TrialFacts:
    """The facts of an evaluation alone (attacks and distances), as `raysweep evaluate` has them."""
    regs = registries()
    attacks = {a.key: regs["attacks"].get(a.name) for a in evaluate.attacks}
    needs = {attacks[a.key].needs_for(a.params) for a in evaluate.attacks}
    needs |= {regs["distances"].get(d.method).needs for d in evaluate.distances}
    return TrialFacts(manifolds=tuple(sorted(n for n in needs if n in MANIFOLD_KINDS)),
                      source_model="source_model" in needs,
                      attack_families={key: entry.family for key, entry in attacks.items()})


def trial_facts(cfg: TrialConfig) -> TrialFacts:
    """The facts of `cfg` (its names must be registered: raysweep.resolve.catalog.load first)."""
    strategy = registries()["strategies"].get(cfg.strategy.name)
    need = strategy.needs_for(cfg.strategy.params)
    facts = evaluation_facts(cfg.evaluate)
    return facts.model_copy(update={
        "manifolds": tuple(sorted(set(facts.manifolds) | ({need} & set(MANIFOLD_KINDS)))),
        "strategy_manifold": need if need in MANIFOLD_KINDS else None,
        "strategy_family": strategy.family,
        # the one rule the driver (choosing packs) and the worker (choosing how to run one) share
        "fused": cfg.trial_fn == DEFAULT_TRIAL_FN and cfg.strategy.name in FUSED_STRATEGIES,
    })


def manifold_kinds(trials: list[TrialConfig]) -> set[str]:
    """Every manifold kind some of `trials` needs."""
    return set().union(*(t.facts.manifolds for t in trials))
