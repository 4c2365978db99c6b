"""The epochs table: one row per trial and epoch, with the test error on a fixed
sample, carried through a resume; written beside the other tables and read back by the reader."""
from __future__ import annotations

import math

import torch

from raysweep.resolve import catalog
from raysweep.config import parse_spec
from raysweep.resolve.trials import expand
from raysweep.results.rows import epochs_table
from raysweep.results.schema import EPOCH_SCHEMA
from raysweep.results.store import TableStore
from raysweep.training.epoch_log import STATE_KEY
from raysweep.trial.protocol import TrialHooks
from raysweep.trial.run import run_trial


def _cfg(epochs: int):
    spec = parse_spec({"name": "ep", "dataset": {"name": "fonts", "options": {"max_fonts": 2, "train_size": 200,
                                                                               "test_size": 60}},
                       "grid": {"n": [40], "seed": [3]}, "strategies": [{"name": "normal"}],
                       "train": {"epochs": epochs, "batch_size": 20}})
    return expand(spec)[0]


def test_one_row_per_epoch_and_resume_keeps_earlier_rows(tmp_path, cache_dir):
    torch.set_num_threads(1)
    catalog.load()
    cfg = _cfg(3)
    states, reported = [], []
    full = run_trial(cfg, TrialHooks(on_epoch=lambda e, m, fn: (states.append(fn()), reported.append(m))))
    assert [r["epoch"] for r in full.epochs] == [1, 2, 3]
    assert all(0 <= r["test_error"] <= 1 and r["lr"] > 0 and math.isfinite(r["train_loss"]) for r in full.epochs)
    assert all("sample_test_error" in m for m in reported)  # what Tune's callbacks plot
    assert [r["epoch"] for r in states[0][STATE_KEY]] == [1]  # rows ride in the checkpoint
    resumed = run_trial(cfg, TrialHooks(state=states[1]))  # from epoch 2: epochs 1-2 come from the state
    assert [r["epoch"] for r in resumed.epochs] == [1, 2, 3]
    assert resumed.epochs[2]["test_error"] == full.epochs[2]["test_error"]  # resume is exact

    store = TableStore(str(tmp_path), cfg.sweep)
    table = epochs_table(cfg, full.epochs)
    assert table.schema.equals(EPOCH_SCHEMA) and table.num_rows == 3
    store.write(cfg.trial_id, epochs_table(cfg, []), None, table)  # a stand-in trial row
    back = store.read("epochs").to_pandas()
    assert list(back["epoch"]) == [1, 2, 3] and set(back["trial_id"]) == {cfg.trial_id}


def test_learning_curves_figure_from_the_epochs_table(tmp_path):
    import pandas as pd

    from raysweep.analysis import fig_learning_curves
    from raysweep.analysis.load import Tables
    from raysweep.analysis.report import FIGURES

    assert fig_learning_curves.draw in FIGURES
    cfg = _cfg(2)
    store = TableStore(str(tmp_path), cfg.sweep)
    rows = [{"epoch": e, "train_loss": 2.0 / e, "train_error": 0.5 / e, "test_error": 0.6 / e, "lr": 0.01,
             "epoch_time_s": 1.0, "images_per_s": 40.0} for e in (1, 2)]
    store.write(cfg.trial_id, epochs_table(cfg, []), None, epochs_table(cfg, rows))
    tables = Tables(pd.DataFrame({"trial_id": [cfg.trial_id]}), pd.DataFrame(), str(tmp_path / cfg.sweep))
    outcome = fig_learning_curves.draw(tables, tmp_path / "figs")
    assert outcome.path is not None and outcome.path.stat().st_size > 1000
    empty = Tables(pd.DataFrame({"trial_id": ["other"]}), pd.DataFrame(), str(tmp_path / cfg.sweep))
    assert fig_learning_curves.draw(empty, tmp_path / "figs").path is None  # only the analysed trials count
