"""Ray Tune's own logger callbacks for a spec's `callbacks:` (TensorBoard, MLflow, W&B), checked
for their packages by raysweep.resolve.trackers at validation. MLflow's experiment and W&B's project
default to the sweep's name; other options go to the callback's constructor as given. A
`module:Class` entry is the user's own ray.tune.Callback, built with its options. Each of Ray's
callbacks is imported only when asked for: its module imports the tracker, an optional extra."""
from __future__ import annotations

from typing import Any

from raysweep.config.schema import SweepSpec
from raysweep.resolve.trackers import TRACKERS, user_callback


def tracking_callbacks(spec: SweepSpec) -> list[Any]:
    out: list[Any] = []
    for c in spec.callbacks:
        if c.name == "tensorboard":  # event files in each trial's folder under the experiment
            from ray.tune.logger import TBXLoggerCallback

            out.append(TBXLoggerCallback())
        elif c.name not in TRACKERS:  # module:Class, a user's own Tune Callback
            out.append(user_callback(c.name, "callbacks")(**c.options))
        elif c.name == "mlflow":
            from ray.air.integrations.mlflow import MLflowLoggerCallback

            out.append(MLflowLoggerCallback(**{"experiment_name": spec.name, **c.options}))
        else:
            from ray.air.integrations.wandb import WandbLoggerCallback

            out.append(WandbLoggerCallback(**{"project": spec.name, **c.options}))
    return out
