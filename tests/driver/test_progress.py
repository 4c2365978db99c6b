"""The progress line while the manifold actors train VAE-GANs."""
from raysweep.driver.progress import format_manifold_line


def test_line_counts_ready_training_and_loading_models_with_an_eta():
    states = [{"steps_done": 30, "steps": 100, "step_s": 4.0}, None,
              {"steps_done": 100, "steps": 100, "step_s": 5.0}, {"steps_done": 50, "steps": 100, "step_s": 2.0}]
    line = format_manifold_line(states, [False, False, False, False], 125)
    assert line.startswith("manifolds: 0/4 VAE-GANs ready, 2 training (step 30/100 to 50/100), 2 loading or starting")
    # (70 + 50 steps left + 100 for the model not yet started) x 3 s mean / 2 training at once
    assert line.endswith("02:05 elapsed, ETA 05:30")


def test_line_when_nothing_trains():
    assert format_manifold_line([None, None], [False, False], 3).endswith("ETA --:--")
    assert format_manifold_line([None, None], [True, True], 3) == \
        "manifolds: 2/2 VAE-GANs ready, 0 training | 00:03 elapsed, ETA 00:00"
