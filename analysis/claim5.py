"""Claim 5's controls from a sweep's tables (sweeps/fonts-claim5.yaml):
`python analysis/claim5.py RESULTS_DIR [RESULTS_DIR ...]`.

Prints, per results directory, the N factor of every strategy against normal training with its
interval over seeds, the L-inf success per strategy and N, and the perturbed half's record at
the first and last epoch (epochs table, adv_* columns); draws the claim-5 figure beside the tables.
"""
import sys

from raysweep.analysis import load as L
from raysweep.analysis import n_factors as NF
from raysweep.analysis.fig_claim5_controls import draw
from raysweep.analysis.fig_learning_curves import epochs_of
from raysweep._core.errors import UserError


def report(path: str) -> None:
    tables = L.load_tables(path)
    trials = tables.trials
    print(f"## {path}: {len(trials)} trials\n")
    print(NF.markdown(NF.factor_table(trials)), "\n")
    values = [L.TEST_ERROR] + [L.success_col(a) for a in L.attacks_in(trials, L.REGULAR)]
    print(NF.markdown(trials.groupby([L.STRATEGY, L.N])[values].mean().reset_index()), "\n")
    ends = NF.first_and_last_epoch(NF.perturbed_table(epochs_of(tables)))
    if not ends.empty:
        print(NF.markdown(ends), "\n")
    outcome = draw(tables, tables.output_dir())
    print(outcome.path or f"figure skipped: {outcome.note}")


if __name__ == "__main__":
    try:
        for arg in sys.argv[1:]:
            report(arg)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
