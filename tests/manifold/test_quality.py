"""Manifold quality measures: a decoder that ignores its code (the posterior
collapse two of ten paper-size FONTS class VAE-GANs showed) is flagged; a faithful one is not."""
import torch
from torch import nn

from raysweep.manifold.quality import QUALITY_THRESHOLDS, class_manifold_quality, shortfalls, verdict
from raysweep.vaegan.network import VAEGANArch


class ByMean(nn.Module):
    """Classifier: class 1 when the image is bright on average, else 0 (logits)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(1, 2)  # its input is the penultimate feature the Frechet distance uses
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[-50.0], [50.0]]))
            self.fc.bias.zero_()

    def forward(self, x):
        return self.fc(x.flatten(1).mean(1, keepdim=True) - 0.5)


class _Decoder(nn.Module):
    def __init__(self, level: float, slope: float):
        super().__init__()
        self.level, self.slope = level, slope
        self.anchor = nn.Parameter(torch.zeros(1))  # where the code lives (device lookups)

    def forward(self, z):
        return torch.full((z.shape[0], 1, 28, 28), self.level) + self.slope * z[:, :1, None, None]


class Fake(nn.Module):
    """mu = 0 for every image; dec(z) = `level` + slope * z_0 everywhere (a stand-in VAE-GAN)."""

    def __init__(self, level: float, slope: float = 0.01):
        super().__init__()
        self.arch = VAEGANArch()
        self.encoder = lambda x: (torch.zeros(x.shape[0], 10), None)
        self.decoder = _Decoder(level, slope)

    def forward(self, x):
        return self.decoder(self.encoder(x)[0])


def test_collapsed_decoder_is_flagged_and_faithful_one_passes():
    bright = torch.full((20, 1, 28, 28), 0.9)
    labels = torch.ones(20, dtype=torch.long)
    # collapse: one dark image whatever the code (what classes 6 and 9 learned)
    row = class_manifold_quality(Fake(0.1, slope=0.0), bright, labels, ByMean())
    assert row["clean_acc"] == 1.0 and row["recon_acc"] == 0.0 and row["latent_step_l2"] == 0.0
    assert {"recon_ratio", "usable_share"} <= set(verdict(row))
    good = class_manifold_quality(Fake(0.9), bright, labels, ByMean())
    assert good["inside_bound"] == 1.0 and good["recon_acc"] == 1.0 and good["usable_share"] == 1.0
    assert good["recon_l1"] < 1e-6 and good["latent_step_l2"] > 0 and verdict(good) == []
    assert set(QUALITY_THRESHOLDS) <= set(good)


def test_reconstructions_are_judged_against_how_well_the_classifier_reads_the_class():
    """A class the classifier reads 60% of the time (F-MNIST's shirts) with reconstructions read
    54% of the time passes (ratio 0.9): the VAE-GAN is not blamed for the classifier. The
    control: the same classifier reading 30% of the reconstructions fails."""
    row = {"inside_bound": 0.7, "usable_share": 0.9, "clean_acc": 0.6}
    assert verdict({**row, "recon_acc": 0.54}) == []
    assert verdict({**row, "recon_acc": 0.30}) == ["recon_ratio"]
    assert verdict({**row, "recon_acc": 0.54, "clean_acc": float("nan")}) == ["recon_ratio"]  # unknown fails


def test_a_model_still_collapsed_after_its_restarts_fails_even_when_its_one_image_is_read():
    """On easy data a collapsed decoder's single image can be the class mean, which the classifier
    reads (accuracies 1.0): diversity decides. Controls: a healthy diversity passes, and a row
    written before diversity was recorded is not judged on it."""
    read = {"inside_bound": 1.0, "usable_share": 1.0, "recon_acc": 1.0, "clean_acc": 1.0}
    assert verdict({**read, "diversity": 0.012}) == ["diversity"]
    assert "collapsed" in shortfalls({**read, "diversity": 0.012})["diversity"]
    assert verdict({**read, "diversity": 0.85}) == []
    assert verdict({**read, "diversity": None}) == [] and verdict(read) == []


def test_the_reports_gate_reads_the_same_bar_as_the_table():
    """raysweep.analysis.manifold_quality's gate and the table's `below` come from one function:
    a collapsed class blocks the learned claims; the same rows with a healthy diversity do not."""
    import pandas as pd
    from raysweep.analysis.manifold_quality import quality_blocker
    rows = pd.DataFrame([{"kind": "class", "class": c, "inside_bound": 0.7, "usable_share": 0.95, "recon_acc": 0.9,
                          "clean_acc": 0.95, "diversity": 0.9} for c in range(3)])
    assert quality_blocker(rows, "learned-class") is None
    rows.loc[1, "diversity"] = 0.01
    assert "class 1: collapsed" in quality_blocker(rows, "learned-class")


def test_report_rows_stay_aligned_when_a_table_lacks_newer_columns(monkeypatch):
    """A manifolds table written before `diversity` and `attempts` existed shows n/a in those
    cells instead of shifting the rest of the row under the wrong headers."""
    import pandas as pd

    from raysweep.analysis import manifold_quality as mq

    old = pd.DataFrame([{"kind": "class", "class": 0, "recon_l1": 0.05, "inside_bound": 0.3, "recon_acc": 0.7,
                         "clamped_acc": 0.7, "clean_acc": 0.9, "usable_share": 0.78, "frechet": 60.0,
                         "latent_step_l2": 1.2, "lam": 3.0, "width": 1.0, "epochs": 10, "below": "recon_acc"}])
    monkeypatch.setattr(mq, "read_manifolds", lambda root: old)
    monkeypatch.setattr(mq, "learned_users", lambda trials: ["onmanifold_class"])
    lines = mq.section(type("T", (), {"root": "", "trials": None})())
    header = next(line for line in lines if line.startswith("| kind"))
    row = next(line for line in lines if line.startswith("| class"))
    assert row.count("|") == header.count("|")
    cells = dict(zip(header.strip("| ").split(" | "), row.strip("| ").split(" | ")))
    assert cells["diversity"] == "n/a" and cells["attempts"] == "n/a" and cells["epochs"] == "10"
