"""The torchattacks and AutoAttack adapters (raysweep.attacks.peers): same records as every
attack, within their eps and the image box, reproducible from the caller's generator, and
usable by name in a spec. Skipped, with the reason, when the `[peers]` extra is not installed."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from raysweep.resolve import catalog
from raysweep.attacks import ATTACKS, RECORD_COLUMNS
from raysweep.config.parse import parse_spec
from raysweep.data.batch import Batch
from raysweep._core.errors import UserError
from raysweep.models import build_model
from raysweep.resolve.validate import validate_and_resolve

catalog.load()
PEERS = {
    "torchattacks": ("torchattacks", {"attack": "PGD", "eps": 0.1, "alpha": 0.05, "steps": 3, "restarts": 2}),
    "autoattack": ("pyautoattack", {"version": "custom", "attacks": ["apgd-ce"], "eps": 0.1, "n_iter": 3}),
}


def _need(module: str) -> None:
    pytest.importorskip(module, reason=f"{module} is not installed (pip install -e '.[peers]')")


def _model_and_batch():
    model = build_model("cnn", (1, 28, 28), 10, seed=0).eval()
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(6, 1, 28, 28, generator=g), torch.randint(0, 10, (6,), generator=g)
    return model, Batch(x, y, idx=torch.arange(10, 16))


@pytest.mark.parametrize("name", PEERS)
def test_peer_records_follow_the_contract(name):
    module, params = PEERS[name]
    _need(module)
    model, batch = _model_and_batch()
    restarts = params.get("restarts", 1)
    run = lambda: ATTACKS.build(name, **params)(model, batch, generator=torch.Generator().manual_seed(0),  # noqa: E731
                                                 keep_images=True)
    result = run()
    assert set(result.records) == set(RECORD_COLUMNS)
    assert all(len(v) == 6 * restarts for v in result.records.values())
    assert sorted(set(result.records["sample"].tolist())) == list(range(10, 16))  # Batch.idx, not positions
    assert result.x_adv.shape == (restarts, 6, 1, 28, 28)
    assert float(result.x_adv.min()) >= 0 and float(result.x_adv.max()) <= 1
    assert result.records["linf"].max() <= params["eps"] + 1e-5
    pred = model(result.x_adv[0]).argmax(1).numpy()
    assert (pred == result.records["adv_pred"][:6]).all()
    assert (result.records["success"] == (result.records["adv_pred"] != result.records["label"])).all()
    again = run()
    assert (again.records["adv_pred"] == result.records["adv_pred"]).all()  # seeded by the generator
    assert ATTACKS.get(name).family == "regular"
    config = dataclasses.asdict(ATTACKS.build(name, **params).config)  # what validation writes into the spec
    assert dataclasses.asdict(ATTACKS.build(name, **config).config) == config


def test_torchattacks_rejects_unknown_names_before_running():
    _need("torchattacks")
    with pytest.raises(UserError, match="no attack 'NoSuch'"):
        ATTACKS.build("torchattacks", attack="NoSuch")
    with pytest.raises(UserError, match="torchattacks.PGD"):
        ATTACKS.build("torchattacks", attack="PGD", epsilon=0.3)


def test_peers_validate_in_a_spec():
    _need("torchattacks")
    spec = {"name": "peers", "dataset": {"name": "fonts"}, "grid": {"n": [100], "seed": [0]},
            "strategies": [{"name": "normal"}],
            "evaluate": {"attacks": [{"name": "torchattacks", "params": {"attack": "PGD", "eps": 0.3, "bogus": 1}}]}}
    with pytest.raises(UserError, match=r"evaluate\.attacks\[0\]\.params"):
        validate_and_resolve(parse_spec(spec), "spec", with_data=False)[0]
