"""The progress line while the manifold actors train VAE-GANs (issue 17 item 9)."""
from raysweep.driver.progress import format_manifold_line


def test_line_counts_ready_training_and_loading_models_with_an_eta():
    states = [{"epochs_done": 3, "epochs": 10, "epoch_s": 40.0}, None,
              {"epochs_done": 10, "epochs": 10, "epoch_s": 50.0}, {"epochs_done": 5, "epochs": 10, "epoch_s": 20.0}]
    line = format_manifold_line(states, [False, False, False, False], 125)
    assert line.startswith("manifolds: 0/4 VAE-GANs ready, 2 training (epoch 3/10 to 5/10), 2 loading or starting")
    # (7 + 5 epochs left + 10 for the model not yet started) x 30 s mean / 2 training at once
    assert line.endswith("02:05 elapsed, ETA 05:30")


def test_line_when_nothing_trains():
    assert format_manifold_line([None, None], [False, False], 3).endswith("ETA --:--")
    assert format_manifold_line([None, None], [True, True], 3) == \
        "manifolds: 2/2 VAE-GANs ready, 0 training | 00:03 elapsed, ETA 00:00"
