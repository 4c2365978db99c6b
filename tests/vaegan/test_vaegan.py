"""VAE-GAN networks, training (Eq. 7-9) and checkpoints (supplement B.2)."""
import pytest
import torch

from raysweep._core.errors import UserError
from raysweep.vaegan.checkpoint import load_checkpoint, load_training_state, save_checkpoint, save_training_state
from raysweep.vaegan.config import DEFAULT_EPOCHS, DEFAULT_LAMBDA, VAEGANConfig, default_lambda, paper_lambda
from raysweep.vaegan.schedule import schedule
from raysweep.vaegan.fit import train_vaegan
from raysweep.vaegan.network import VAEGAN, VAEGANArch

ARCHS = {
    "28x28": VAEGANArch((1, 28, 28), width=0.25),
    "celeba": VAEGANArch((3, 56, 48), width=0.125),
}


def discs(n: int, seed: int, size: int = 28) -> torch.Tensor:
    """uint8 [n, 1, size, size] filled discs of random centre and radius: one simple 'class'."""
    g = torch.Generator().manual_seed(seed)
    c = 8 + torch.rand(n, 2, generator=g) * (size - 16)
    r = 3 + torch.rand(n, generator=g) * 5
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    d2 = (yy[None] - c[:, 0, None, None]) ** 2 + (xx[None] - c[:, 1, None, None]) ** 2
    return ((d2 <= r[:, None, None] ** 2).float() * 255).to(torch.uint8).unsqueeze(1)


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_shapes_range_and_every_parameter_gets_a_gradient(name):
    arch = ARCHS[name]
    model = VAEGAN(arch)
    x = torch.rand(3, *arch.in_shape)
    mu, logvar = model.encoder(x)
    rec = model.decoder(mu)
    logit = model.discriminator(x)
    assert mu.shape == logvar.shape == (3, arch.latent_dim)
    assert rec.shape == x.shape and logit.shape == (3,)
    assert rec.min() >= 0 and rec.max() <= 1 and torch.isfinite(logit).all()
    (rec.sum() + logvar.sum() + logit.sum()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_paper_architecture_sizes():
    assert VAEGANArch().channels == [64, 128, 256] and VAEGANArch().flat == 2304
    assert VAEGANArch((3, 56, 48)).layers == 4
    assert VAEGANArch(width=0.25).channels == [16, 32, 64]


def test_config_defaults_follow_the_paper():
    assert VAEGANConfig.for_dataset("fmnist", (1, 28, 28)).epochs == 60
    assert VAEGANConfig.for_dataset("emnist", (1, 28, 28), klass=1).lam == 5.6
    assert VAEGANConfig.for_dataset("celeba", (3, 56, 48)).in_shape == (3, 56, 48)
    assert paper_lambda("emnist") == 3.0  # class-agnostic


def test_a_data_set_the_paper_did_not_use_gets_documented_defaults_and_the_specs_overrides():
    """A researcher's own data set (a plugin's imagefolder) trains VAE-GANs: DEFAULT_LAMBDA and
    DEFAULT_EPOCHS passes over its images (no paper schedule to scale), and a spec's settings
    win. Control: a paper data set keeps the paper's values."""
    own = VAEGANConfig.for_dataset("imagefolder", (1, 28, 28), klass=4)
    assert (own.lam, own.epochs, own.steps_per_epoch) == (DEFAULT_LAMBDA, DEFAULT_EPOCHS, None)
    assert paper_lambda("imagefolder", 4) is None and default_lambda("imagefolder", 4) == DEFAULT_LAMBDA
    assert schedule(own, 1000).steps == DEFAULT_EPOCHS * 10  # passes over the class's 1,000 images
    mine = VAEGANConfig.for_dataset("imagefolder", (3, 32, 32), klass=4, lam=1.5, steps=250)
    assert (mine.lam, mine.in_shape, schedule(mine, 1000).steps) == (1.5, (3, 32, 32), 250)
    assert default_lambda("emnist", 1) == 5.6 and paper_lambda("fmnist", 0) == 2.75
    with pytest.raises(UserError, match="unknown_key"):
        VAEGANConfig.for_dataset("imagefolder", (1, 28, 28), unknown_key=1)


def test_losses_fall_within_a_few_hundred_steps():
    cfg = VAEGANConfig(width=0.25, epochs=8, batch_size=50)
    train, held = discs(800, 0), discs(200, 1).float() / 255
    history = []
    model, last = train_vaegan(train, cfg, seed=0, on_epoch=lambda e, m, s: history.append(m))  # 128 steps
    assert len(history) == cfg.epochs and last == history[-1]
    assert history[-1]["l1"] < 0.6 * history[0]["l1"]
    assert history[-1]["loss_enc"] < history[0]["loss_enc"]
    with torch.no_grad():
        rec_l1 = (model(held) - held).abs().mean()
    mean_image_l1 = (held.mean(0, keepdim=True) - held).abs().mean()
    assert rec_l1 < 0.7 * mean_image_l1  # the latent code carries the disc, not just the average


def test_resume_from_a_saved_epoch_state_matches_the_uninterrupted_run(tmp_path):
    cfg = VAEGANConfig(width=0.125, epochs=3, batch_size=50)
    x = discs(100, 2)
    saved = []

    def checkpoint(epoch, metrics, state):
        saved.append(save_training_state(tmp_path / f"epoch{epoch}.pt", state, cfg, seed=3))

    full, _ = train_vaegan(x, cfg, seed=3, on_epoch=checkpoint)
    state, cfg2, seed = load_training_state(saved[0])
    assert cfg2 == cfg and seed == 3 and state["next_epoch"] == 1
    resumed, _ = train_vaegan(x, cfg2, seed=seed, state=state, start_epoch=state["next_epoch"])
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path):
    cfg = VAEGANConfig(width=0.125, epochs=1, lam=2.5)
    x = discs(100, 4)
    model, metrics = train_vaegan(x, cfg, seed=1)
    path = save_checkpoint(tmp_path / "c3.pt", model, cfg, 2.5, "disc-images-v1", metrics)
    loaded, rec = load_checkpoint(path)
    assert rec.cfg == cfg and rec.lam == 2.5 and rec.data_hash == "disc-images-v1" and rec.metrics == metrics
    probe = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(model.eval()(probe), loaded(probe))
        assert torch.equal(model.discriminator(probe), loaded.discriminator(probe))
    assert [p.name for p in tmp_path.iterdir()] == ["c3.pt"]  # no temporary file left behind


def test_bad_inputs_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="expects images"):
        train_vaegan(discs(10, 0), VAEGANConfig.for_dataset("celeba", (3, 56, 48)), seed=0)
    with pytest.raises(UserError, match="no images"):
        train_vaegan(discs(10, 0)[:0], VAEGANConfig(), seed=0)
    with pytest.raises(UserError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
