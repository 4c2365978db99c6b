"""The sweep driver's Ray-free parts: checks of the cluster before any trial starts
(preflight.py), the progress lines' text and stall watch (progress.py), repairs of checkpoints
a killed driver's saved Tune state names (checkpoint_repair.py) and the manifold quality table
written before the trials (manifold_table.py). raysweep.tune.sweep_runner is the driver's Ray glue."""
