"""Everything that imports Ray: sweep runner, trainables, resume, progress, actors, lambda search as
Optuna glue. Import submodules directly (raysweep.tune.sweep_runner); this package stays import-light."""
