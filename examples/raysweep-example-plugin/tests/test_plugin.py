"""The example plugin on its own: each entry builds and does what it says."""
from __future__ import annotations

import pytest
import torch
from raysweep.resolve import catalog
from raysweep.attacks import ATTACKS
from raysweep.data import load_dataset
from raysweep.data.batch import Batch
from raysweep import UserError
from raysweep.models import build_model
from raysweep_example_plugin.data import write_demo_folder


def test_entries_are_registered_by_the_entry_point():
    catalog.load()
    regs = catalog.registries()
    for kind, name in (("models", "tv_resnet18"), ("datasets", "imagefolder"), ("attacks", "fgsm")):
        assert catalog.origin(regs[kind].get(name))["distribution"] == "raysweep-example-plugin"


def test_resnet18_at_28x28():
    catalog.load()
    model = build_model("tv_resnet18", (1, 28, 28), 10, seed=0)
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_imagefolder_reads_the_layout(tmp_path):
    catalog.load()
    ds = load_dataset("imagefolder", root=str(write_demo_folder(tmp_path / "set")), size=28)
    assert ds.image_shape == (1, 28, 28) and ds.n_classes == 2
    assert (len(ds.train), len(ds.test)) == (24, 8) and ds.train.x.dtype == torch.uint8
    assert ds.meta["classes"] == ["bar", "square"] and len(ds.data_hash) == 64
    with pytest.raises(UserError, match="no train, test folder"):
        load_dataset("imagefolder", root=str(tmp_path))


def test_fgsm_stays_in_the_ball_and_hurts():
    catalog.load()
    # logit_1 - logit_0 = sum(x) - 2: the label is right everywhere, and an L-inf step of 0.2
    # on each of the 4 pixels moves the sum by 0.8, flipping every sample with |sum - 2| < 0.8
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[0.0] * 4, [1.0] * 4]))
        model[1].bias.copy_(torch.tensor([0.0, -2.0]))
    x = torch.rand(64, 1, 2, 2, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.25
    y = (x.flatten(1).sum(1) > 2).long()
    result = ATTACKS.build("fgsm", eps=0.2)(model, Batch(x, y), generator=torch.Generator().manual_seed(0))
    assert result.records["linf"].max() <= 0.2 + 1e-6
    clean_wrong = (model(x).argmax(1) != y).float().mean().item()
    assert clean_wrong == 0 and result.records["success"].mean() > 0.9
