"""Records carry the image-space delta to the real test image (`real_l2`), the denominator of the
distance ratio of Sec. 3.2 / Fig. 3, also for learned on-manifold attacks whose reference is dec(z)."""
import numpy as np
import torch
from torch import nn

from raysweep.attacks import ATTACKS, RECORD_COLUMNS
from raysweep.data.batch import Batch


class ShiftedDecoder:
    """A 'learned' manifold whose reconstruction dec(enc(x)) is x + 0.2: x_ref differs from x."""

    latent_dim = 16

    def __init__(self):
        self.lower, self.upper = torch.full((16,), -2.0), torch.full((16,), 2.0)

    def codes(self, batch):
        return (batch.x.flatten(1) - 0.5).clamp(-2, 2), None, torch.ones(len(batch), dtype=torch.bool)

    def decode(self, z, ctx=None):
        return (z + 0.5 + 0.2).clamp(0, 1).view(-1, 1, 4, 4)

    def to(self, device):
        return self


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 3))


def _batch(n=6):
    g = torch.Generator().manual_seed(1)
    return Batch(torch.rand(n, 1, 4, 4, generator=g) * 0.6, torch.arange(n) % 3)


def test_regular_attack_real_delta_is_its_l2():
    rec = ATTACKS.build("linf", iterations=3, restarts=2)(_model(), _batch()).records
    assert "real_l2" in RECORD_COLUMNS
    np.testing.assert_array_equal(rec["real_l2"], rec["l2"])


def test_learned_onmanifold_real_delta_is_measured_to_the_real_image():
    batch = _batch()
    result = ATTACKS.build("onmanifold_class", iterations=3, restarts=2)(_model(), batch, manifold=ShiftedDecoder(),
                                                                        keep_images=True)
    rec = result.records
    want = (result.x_adv - batch.x.unsqueeze(0)).flatten(2).norm(dim=2).reshape(-1).numpy()
    np.testing.assert_allclose(rec["real_l2"], want, rtol=1e-5)
    # the reconstruction offset (0.2 per pixel, 4 pixels of norm 0.8 at zeta = 0) is in real_l2, not in l2
    assert (rec["real_l2"] > rec["l2"]).mean() > 0.5
    assert tuple(rec) == RECORD_COLUMNS
