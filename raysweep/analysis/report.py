"""report.md for a finished sweep, and claims.json beside it: the claims table (one row per claim
and manifold: verdict, deciding statistic, interval, threshold, reason), the falsifiers, the
thresholds used, the attack-strength check (APGD beside the paper's attack,
raysweep/analysis/strength.py), the figures, the sweep's config summary and run time.

Usage: python -m raysweep.analysis.report RESULTS_DIR [--out DIR]   (what `raysweep analyze` calls)
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Callable, Optional

import pandas as pd

from raysweep.analysis import plotting as P
from raysweep.analysis import claims as C
from raysweep.analysis import fig_attacks, fig_distance, fig_onmanifold, fig_regular, fig_sample_complexity
from raysweep.analysis import fig_learned_vs_true, fig_learning_curves, fig_samples
from raysweep.analysis import learned_vs_true as LT
from raysweep.analysis import manifold_quality as MQ
from raysweep.analysis import load as L
from raysweep.analysis import stats as S
from raysweep.analysis import robustness, strength
from raysweep.analysis import verdicts as V
from raysweep._core.errors import UserError

# Paper order: Fig. 3, 5, 6, 7, then the supplement's attack variants.
FIGURES: tuple[Callable[[L.Tables, Path], P.FigureOutcome], ...] = (
    fig_distance.draw, fig_onmanifold.draw, fig_regular.draw, fig_sample_complexity.draw, fig_attacks.draw,
    fig_learned_vs_true.draw,  # FONTS: the learned manifold held against the true one
    fig_samples.draw,  # Fig. 2: sample pictures, per data set
    fig_learning_curves.draw,  # from the epochs table
)
REPORT_NAME = "report.md"
# Keys a sweep metadata file may use for its wall-clock time, in seconds.


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|")


def _num(value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.3f}"


def claims_section(results: list[C.ClaimResult]) -> list[str]:
    """The claims table, one row per (claim, manifold), drawn from the rows claims.json holds
    (raysweep/analysis/verdicts.py); then the falsifiers, every statistic behind each claim and
    the thresholds."""
    table = V.rows(results)
    titles = {r.number: r.title for r in results}
    lines = ["## Claims", "", "| claim | manifold | verdict | deciding statistic | value | interval | threshold | reason |",
             "|---|---|---|---|---|---|---|---|"]
    for row in table:
        interval = S.interval_text(tuple(row["interval"]) if row["interval"] else None)
        value = _num(row["value"] if row["value"] is not None else float("nan"))
        lines.append(f"| ({row['claim']}) {_cell(titles[row['claim']])} | {row['manifold'] or '-'} | **{row['verdict']}** | "
                     f"{_cell(row['statistic'] or '(none)')} | {value} | {interval} | {_cell(row['threshold'] or '')} | "
                     f"{_cell(row['reason'])} |")
    falsifiers = {r.number: r.falsifier for r in results}
    lines += ["", "Falsifiers (what would have made each claim fail):", ""]
    lines += [f"- ({k}) {v}" for k, v in falsifiers.items()]
    measures = [f"- {V.label(row)} decided on: {r.measure}" for r, row in zip(results, table) if r.measure]
    if measures:
        lines += ["", "Measures:", *measures]
    lines += ["", "All statistics:", "", "| claim | statistic | value | interval |", "|---|---|---|---|"]
    for r, row in zip(results, table):
        for s in r.statistics:
            lines.append(f"| {V.label(row)} | {_cell(s.name)}{' (decides)' if s.decides else ''} | {_num(s.value)} | "
                         f"{S.interval_text(s.interval)} |")
    lines += ["", "Thresholds (raysweep/analysis/thresholds.py; fixed before looking at results):", ""]
    lines += [f"- `{k}` = {v:g}" for k, v in C.thresholds().items()]
    lines += [f"- intervals: {C.INTERVAL_LEVEL:.0%} Student-t intervals over per-seed estimates (at least "
              f"{C.MIN_SEEDS} seeds, else inconclusive); claims (1), (2) and (4) use `{C.REFERENCE_STRATEGY}` training, "
              "claim (3) every strategy with N in the model; success rates are per attempt."]
    return lines


def _values(df: pd.DataFrame, col: str) -> str:
    if col not in df.columns:
        return "n/a"
    return ", ".join(str(v) for v in sorted(set(df[col].dropna().tolist()), key=str)) or "n/a"


def _grid_values(df: pd.DataFrame, col: str) -> str:
    if col not in df.columns:
        return "n/a"
    return ", ".join(str(v) for v in sorted(set(df[col].dropna().tolist()))) or "n/a"


def _attacks(trials: pd.DataFrame) -> list[str]:
    suffix = "." + L.success_col("x").split(".", 1)[1]
    return sorted(c[: -len(suffix)] for c in trials.columns if c.endswith(suffix))


def _duration(seconds: float) -> str:
    return "n/a" if not math.isfinite(seconds) else f"{seconds:.0f} s ({seconds / 60:.1f} min)"


def config_section(tables: L.Tables) -> list[str]:
    t = tables.trials
    lines = ["## Sweep", "",
             f"- results: `{tables.root}`",
             f"- sweep: {_values(t, L.SWEEP)}; dataset: {_values(t, L.DATASET)}; arch: {_values(t, L.ARCH)}",
             f"- N: {_grid_values(t, L.N)}",
             f"- seeds: {_grid_values(t, L.SEED)}",
             f"- strategies: {', '.join(L.strategies_in(t)) or 'n/a'}",
             f"- attacks: {', '.join(_attacks(t)) or 'n/a'}",
             f"- distances: {', '.join(L.distances_in(tables.examples)) or 'n/a'}",
             f"- trials: {len(t)} ok, {tables.n_failed} failed; example rows: {len(tables.examples)}"]
    train = float(t[L.TRAIN_TIME].sum()) if L.has_columns(t, L.TRAIN_TIME) else float("nan")
    evals = float(t[L.EVAL_TIME].sum()) if L.has_columns(t, L.EVAL_TIME) else float("nan")
    if L.ARCH in t.columns and t[L.ARCH].nunique() > 1:
        lines.append("- note: several architectures are pooled in the figures and claims; "
                     "use `--arch NAME` for one")
    lines.append(f"- compute time summed over trials: train {_duration(train)}, evaluation {_duration(evals)}")
    if L.has_columns(t, L.STARTED_AT, L.FINISHED_AT):
        span = float(t[L.FINISHED_AT].max() - t[L.STARTED_AT].min())
        lines.append(f"- wall-clock from the first trial start to the last trial end: {_duration(span)}")
    return lines


def figures_section(outcomes: list[P.FigureOutcome], out_dir: Path) -> list[str]:
    lines = ["## Figures", ""]
    for o in outcomes:
        if o.path is not None:
            lines += [f"![{o.name}]({o.path.relative_to(out_dir) if o.path.is_relative_to(out_dir) else o.path})", ""]
        else:
            lines += [f"- {o.name} skipped: {o.note}", ""]
    return lines


def render(tables: L.Tables, results: list[C.ClaimResult], outcomes: list[P.FigureOutcome], out_dir: Path) -> str:
    """The report's markdown text. An evaluation's (`raysweep evaluate`) leads with the robust
    accuracies and lists only the claims it could measure."""
    if robustness.is_evaluation(tables.trials):
        measured = [r for r in results if r.verdict != C.NOT_MEASURED]
        lines = ["# raysweep report: robustness of evaluated models", "", *robustness.section(tables.trials)]
        lines += (claims_section(measured) if measured else
                  ["No claim of the paper is measurable here: they compare models trained over N and training "
                   "strategies (run a sweep for them).", ""])
        return "\n".join(lines + [""] + strength.section(tables.trials) + figures_section(outcomes, out_dir)
                         + config_section(tables)) + "\n"
    lines = ["# raysweep report: Disentangling Adversarial Robustness and Generalization", "",
             V.headline(V.rows(results)), ""]
    lines += claims_section(results) + [""] + robustness.section(tables.trials) + strength.section(tables.trials)
    lines += MQ.section(tables)  # learned manifolds' quality, with a warning below the documented bar
    lines += LT.section(tables.trials)  # does the learned manifold stand in for the true one (FONTS)?
    lines += figures_section(outcomes, out_dir) + config_section(tables)
    return "\n".join(lines) + "\n"


def write_report(results_dir: str | Path, out_dir: Optional[str | Path] = None, seed: int = 0,
                 arch: Optional[str] = None) -> Path:
    """Load the tables, draw every figure, evaluate the claims, write report.md and claims.json
    (the same verdict rows, raysweep/analysis/verdicts.py) beside it; return report.md's path.

    out_dir defaults to <results_dir>/analysis (beside the tables); arch keeps one architecture
    (several architectures are otherwise pooled, and the report says so)."""
    tables = L.select(L.load_tables(results_dir), arch=arch)
    out = Path(out_dir) if out_dir is not None else tables.output_dir()
    out.mkdir(parents=True, exist_ok=True)
    outcomes = [draw(tables, out) for draw in FIGURES]
    results = C.evaluate_claims(tables.trials, tables.examples, seed=seed, quality=MQ.read_manifolds(tables.root))
    path = out / REPORT_NAME
    path.write_text(render(tables, results, outcomes, out))
    V.write_json(out / V.JSON_NAME, V.rows(results))
    return path


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Figures and the claims report for a finished sweep.")
    parser.add_argument("results_dir", help="<storage>/<sweep> of a finished sweep, or its tables folder")
    parser.add_argument("--out", default=None, help="output folder (default: <results_dir>/analysis)")
    parser.add_argument("--arch", default=None, help="analyse only this architecture's trials")
    args = parser.parse_args(argv)
    try:
        print(write_report(args.results_dir, args.out, arch=args.arch))
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
