"""The FONTS data set (Sec. 3.1, supplement B.1): latent codes (font, class, theta) + images.

Each (font, class) pair gets the same number of transformations; theta is i.i.d. uniform in the
preset's box. By default, like the paper, 112 transformations per glyph split 96 train / 16 test
(960k/160k for 1000 fonts). Unlike the authors' unseeded draw, the table is a function of the
seed. Results are cached on disk keyed by the font files' bytes, the preset, sizes and seed.
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd
import torch

from raysweep.data import cache
from raysweep.data.batch import Split
from raysweep.data.dataset import DATASETS, Dataset
from raysweep.data.decoder import TrueDecoder
from raysweep.data.fonts import LETTERS, RESOLUTION, default_fonts_dir, find_font_files, load_fonts
from raysweep.data.transform import DEFAULT_PRESET, THETA_NAMES, get_preset
from raysweep.errors import UserError

TRAIN_PER_GLYPH, TEST_PER_GLYPH = 96, 16  # the paper's 960k/160k of 112 per (font, class)
FORMAT_VERSION = 1  # bump when rendering or generation changes what a key produces


@dataclass(frozen=True)
class FontsConfig:
    """Everything that determines a FONTS data set (and its cache key, with the font bytes)."""

    fonts_dir: Optional[str] = None  # None: the fonts bundled with matplotlib
    preset: str = DEFAULT_PRESET
    train_size: Optional[int] = None  # None: 96 per (font, class)
    test_size: Optional[int] = None  # None: 16 per (font, class)
    seed: int = 0
    max_fonts: Optional[int] = None  # the first usable fonts only (the paper took 1000)
    resolution: int = RESOLUTION

    def sizes(self, n_fonts: int) -> tuple[int, int]:
        glyphs = n_fonts * len(LETTERS)
        train = self.train_size if self.train_size is not None else glyphs * TRAIN_PER_GLYPH
        test = self.test_size if self.test_size is not None else glyphs * TEST_PER_GLYPH
        return train, test


def latent_table(n: int, n_fonts: int, config: FontsConfig, split: str) -> pd.DataFrame:
    """n rows (font, class, theta...): (font, class) cycle so every glyph appears equally often."""
    g = torch.Generator().manual_seed(hash_seed(config.seed, split))
    glyph = np.arange(n) % (n_fonts * len(LETTERS))
    theta = get_preset(config.preset).sample(n, g).numpy()
    frame = pd.DataFrame({"font": glyph // len(LETTERS), "class": glyph % len(LETTERS)}, dtype=np.int64)
    for i, name in enumerate(THETA_NAMES):
        frame[name] = theta[:, i]
    return frame


def hash_seed(seed: int, split: str) -> int:
    """Independent streams per split, so the test table does not depend on the train size."""
    return (int(seed) * 1_000_003 + {"train": 1, "test": 2}[split]) % (2**63)


def render_split(decoder: TrueDecoder, frame: pd.DataFrame) -> np.ndarray:
    """uint8 [N, 1, 28, 28] images of a latent table."""
    theta = torch.from_numpy(frame[list(THETA_NAMES)].to_numpy(np.float32, copy=True))
    ctx = torch.from_numpy(frame[["font", "class"]].to_numpy(np.int64, copy=True))
    return decoder.render_uint8(theta, ctx).numpy()


def _build(config: FontsConfig, w: cache.EntryWriter) -> None:
    fonts = load_fonts(config.fonts_dir, config.max_fonts, config.resolution)
    n_fonts = len(fonts.names)
    decoder = TrueDecoder(torch.from_numpy(fonts.prototypes).float() / 255.0)
    started = time.perf_counter()
    for split, n in zip(("train", "test"), config.sizes(n_fonts)):
        frame = latent_table(n, n_fonts, config, split)
        w.table(f"{split}_latents", frame)
        w.array(f"{split}_images", render_split(decoder, frame))
    w.array("prototypes", fonts.prototypes)
    preset = get_preset(config.preset)
    w.meta({
        "config": asdict(config),
        "fonts": fonts.names,
        "skipped": [list(s) for s in fonts.skipped],
        "preset": preset.name,
        "theta_lower": list(preset.lower),
        "theta_upper": list(preset.upper),
        "generation_s": time.perf_counter() - started,
    })


def cache_key(config: FontsConfig) -> str:
    root = Path(config.fonts_dir).expanduser() if config.fonts_dir else default_fonts_dir()
    files = find_font_files(root)
    if not files:
        raise UserError(f"no .ttf/.otf files in {root}; pass --fonts-dir with a folder of fonts")
    # the folder's location does not matter, the files' bytes and relative names (font order) do
    extra = {
        "config": {k: v for k, v in asdict(config).items() if k != "fonts_dir"},
        "names": [f.relative_to(root).as_posix() for f in files],
        "version": FORMAT_VERSION,
    }
    return cache.hash_files(files, extra)


def _split(entry: cache.Entry, split: str) -> Split:
    frame = entry.table(f"{split}_latents")
    x = torch.from_numpy(entry.array(f"{split}_images"))
    z = torch.from_numpy(frame[list(THETA_NAMES)].to_numpy(np.float32, copy=True))
    ctx = torch.from_numpy(frame[["font", "class"]].to_numpy(np.int64, copy=True))
    return Split(x=x, y=ctx[:, 1].clone(), z=z, ctx=ctx)


def fonts_dataset(config: FontsConfig, cache_dir: Optional[str | os.PathLike] = None) -> Dataset:
    """Generate (or load from the cache) the FONTS data set described by `config`."""
    get_preset(config.preset)  # fail on a bad preset before hashing or rendering anything
    for name in ("train_size", "test_size", "max_fonts"):
        value = getattr(config, name)
        if value is not None and value < 1:
            raise UserError(f"{name} must be a positive number, got {value}")
    key = cache_key(config)
    entry, built = cache.cached("fonts", key, lambda w: _build(config, w), cache_dir)
    meta: dict[str, Any] = entry.meta
    meta.update(
        config=asdict(config),  # the entry may have been built from the same bytes in another folder
        prototypes=torch.from_numpy(np.array(entry.array("prototypes"))).float() / 255.0,
        cache_path=str(entry.path),
        built_now=built,
    )
    return Dataset("fonts", _split(entry, "train"), _split(entry, "test"), len(LETTERS), key, meta)


@DATASETS.register("fonts", "letters A..J of many fonts under random affine transformations (true manifold known)")
def build_fonts(root: Optional[str] = None, cache_dir: Optional[str] = None, **options: Any) -> Dataset:
    """FONTS; `root` is accepted for a uniform signature but unused (the data is generated)."""
    known = set(FontsConfig.__dataclass_fields__)
    unknown = set(options) - known
    if unknown:
        raise UserError(f"unknown fonts option(s) {sorted(unknown)}; known: {sorted(known)}")
    return fonts_dataset(FontsConfig(**options), cache_dir)
