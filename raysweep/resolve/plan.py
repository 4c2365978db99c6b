"""Per-trial resource requests (fractional GPUs) and the plan shown by `--dry-run` (no Ray here;
the cost estimate is raysweep.resolve.cost's).

Each strategy asks for its own share (e.g. normal 0.1 GPU, adversarial 0.25); a cluster without
GPUs runs the same spec on CPU, dropping the GPU request with one warning line, so a laptop runs
the spec written for the cluster. GPU fractions are Ray bookkeeping only: they decide how many
trials share a GPU, not how much memory each may use.
"""
from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass
from typing import Optional, TextIO

from raysweep.config.schema import SweepSpec
from raysweep.config.trial_config import TrialConfig
from raysweep.resolve.cost import estimate_seconds, vaegan_seconds
from raysweep.resolve.packing import group, runs_fused
from raysweep.results.store import TableStore


@dataclass(frozen=True)
class Request:
    cpu: float
    gpu: float

    def as_dict(self) -> dict[str, float]:
        # Always name CPU: a request with only "gpu" gets 0 CPUs in Tune.
        return {"cpu": self.cpu, "gpu": self.gpu}


def strategy_requests(spec: SweepSpec, cluster_gpus: Optional[float], out: Optional[TextIO] = None) -> dict[str, Request]:
    """strategy key (label or name) -> request; GPU dropped (one warning) when the cluster has no GPU at all."""
    out = out or sys.stderr
    reqs = {s.key: Request(spec.strategy_resources(s).cpu, spec.strategy_resources(s).gpu) for s in spec.strategies}
    if cluster_gpus is not None and cluster_gpus <= 0 and any(r.gpu > 0 for r in reqs.values()):
        print("raysweep: warning: the cluster has no GPUs; running every trial on CPU "
              "(GPU requests in the spec are ignored)", file=out)
        reqs = {k: Request(r.cpu, 0.0) for k, r in reqs.items()}
    return reqs


@dataclass(frozen=True)
class Plan:
    """What `--dry-run` prints: trials per strategy, their request, and a cost estimate."""

    counts: dict[str, int]
    requests: dict[str, Request]
    gpu_hours: float
    cpu_hours: float
    vaegan_cpu_hours: float = 0.0  # the learned manifolds' training, part of cpu_hours

    def lines(self) -> list[str]:
        out = [f"trials: {sum(self.counts.values())}"]
        for name, n in self.counts.items():
            r = self.requests[name]
            out.append(f"  {name}: {n} trials x (cpu {r.cpu:g}, gpu {r.gpu:g})")
        out.append(f"estimated cost: {self.gpu_hours:.2f} GPU-hours, {self.cpu_hours:.2f} CPU-hours")
        if self.vaegan_cpu_hours > 0:
            out.append(f"  (CPU-hours include {self.vaegan_cpu_hours:.2f} for the VAE-GANs of the learned manifolds)")
        if self.gpu_hours > 0:  # the honest reading of the GPU figure
            out.append("  (GPU-hours: each trial's GPU share held for its CPU-calibrated time; no GPU throughput is measured yet)")
        return out


def plan(trials: list[TrialConfig], requests: dict[str, Request], seconds: dict[str, float],
         vaegan_seconds: float = 0.0) -> Plan:
    """Reserved resource-hours: each trial holds its strategy's request for its `seconds[trial_id]`;
    the VAE-GANs' training (CPU seconds, trained once per sweep) adds to the CPU-hours."""
    counts = Counter(t.strategy.key for t in trials)
    gpu_h = sum(requests[t.strategy.key].gpu * seconds[t.trial_id] for t in trials) / 3600
    cpu_h = sum(requests[t.strategy.key].cpu * seconds[t.trial_id] for t in trials) / 3600
    return Plan(dict(counts), requests, gpu_h, cpu_h + vaegan_seconds / 3600, vaegan_seconds / 3600)


def plan_lines(spec: SweepSpec, trials: list[TrialConfig], done: set[str], cluster_gpus: Optional[float],
               out: Optional[TextIO] = None) -> list[str]:
    """What `--dry-run` prints: pending trials, the per-strategy requests, the cost, the storage."""
    p = plan(trials, strategy_requests(spec, cluster_gpus, out),
             {t.trial_id: estimate_seconds(spec, t) for t in trials}, vaegan_seconds(spec, trials))
    pending = sum(t.trial_id not in done for t in trials)
    head = f"sweep {spec.name}: {pending} of {len(trials)} trials to run ({len(trials) - pending} have rows)"
    return [head, *p.lines(), *pack_lines(spec, [t for t in trials if t.trial_id not in done], p.requests),
            f"storage: {TableStore(spec.storage, spec.name).root.uri}"]


def pack_lines(spec: SweepSpec, pending: list[TrialConfig], requests: dict[str, Request]) -> list[str]:
    """The packs the pending trials run in (`pack: seeds`), with each pack's request."""
    if spec.pack == "none":
        return []
    packs = group(pending, spec.pack, lambda t: runs_fused(t, requests[t.strategy.key].gpu))
    out = [f"packs ({spec.pack}, where they train fused on a GPU): {len(packs)} Tune trials for {len(pending)} models"]
    for key, n in Counter(p.strategy_key for p in packs if len(p.members) > 1).items():
        sizes = sorted({len(p.members) for p in packs if p.strategy_key == key})
        r = requests[key]
        out.append(f"  {key}: {n} packs of {'/'.join(map(str, sizes))} models x (cpu {r.cpu:g}, gpu {r.gpu:g}) per pack")
    return out


def trial_lines(trials: list[TrialConfig], done: set[str]) -> list[str]:
    """`--dry-run --list`: one line per expanded trial (id, strategy, arch, N, seed, whether it has rows)."""
    rows = [(t.trial_id, t.strategy.key, t.arch.key, str(t.n), str(t.seed), "done" if t.trial_id in done else "pending")
            for t in trials]
    head = ("trial_id", "strategy", "arch", "n", "seed", "status")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *rows]]
