"""Everything that imports Ray: sweep runner, trainables, resume, progress, actors, lambda search as
Optuna glue. Import submodules directly (raysweep.tune.sweep); this package stays import-light."""
