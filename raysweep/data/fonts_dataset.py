"""The FONTS data set (Sec. 3.1, supplement B.1): latent codes (font, class, theta) + images.

Each (font, class) pair gets the same number of transformations; theta is i.i.d. uniform in the
preset's box. By default, like the paper, 112 transformations per glyph split 96 train / 16 test
(960k/160k for 1000 fonts). Unlike the authors' unseeded draw, the table is a function of the
seed. Results are cached on disk keyed by the candidate font files' bytes, the preset, sizes and
seed; each entry holds the manifest of the fonts used (raysweep.data.fonts_manifest).

The data set's content hash (`Dataset.data_hash` == `meta["content_hash"]`) covers the manifest
hash (the used fonts' bytes, in order) and every option but the folder's location, so it names
the data itself: two machines agree on it exactly when they generate the same images.

Memory: the image arrays are memory-mapped from the cache (a 1.1M-image FONTS opens in
milliseconds), and each split also reads its rows from the file by explicit reads (Split.rows,
raysweep.data.file_rows): a trial's subset and attacked test rows, and the kNN distance's pass over
all training images, never make the map's pages resident. The latents, labels and the float
prototypes ([F, 10, 56, 56], 125 MB for 1000 fonts) are held in memory.
"""
from __future__ import annotations

import hashlib
import json
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
from raysweep.data.fonts import LETTERS, RESOLUTION, default_fonts_dir, load_fonts, too_few_fonts
from raysweep.data.fonts_manifest import MANIFEST_FILE, candidate_fonts, find_font_files, manifest_hash, write_manifest
from raysweep.data.transform import DEFAULT_PRESET, THETA_NAMES, get_preset
from raysweep._core.errors import UserError

TRAIN_PER_GLYPH, TEST_PER_GLYPH = 96, 16  # the paper's 960k/160k of 112 per (font, class)
FORMAT_VERSION = 2  # bump when rendering or generation changes what a key produces (2: content-hash font order)


@dataclass(frozen=True)
class FontsConfig:
    """Everything that determines a FONTS data set (and its cache key, with the font bytes)."""

    fonts_dir: Optional[str] = None  # None: the fonts bundled with matplotlib
    preset: str = DEFAULT_PRESET
    train_size: Optional[int] = None  # None: 96 per (font, class)
    test_size: Optional[int] = None  # None: 16 per (font, class)
    seed: int = 0
    max_fonts: Optional[int] = None  # exactly this many fonts, the first usable by content hash (paper: 1000)
    resolution: int = RESOLUTION

    @property
    def root(self) -> Path:
        return Path(self.fonts_dir).expanduser() if self.fonts_dir else default_fonts_dir()

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
    write_manifest(w.path / MANIFEST_FILE, fonts.manifest, str(config.root), config.max_fonts)
    preset = get_preset(config.preset)
    w.meta({
        "config": asdict(config),
        "fonts": fonts.names,
        "fonts_manifest_hash": manifest_hash(fonts.manifest),
        "skipped": [list(s) for s in fonts.skipped],
        "preset": preset.name,
        "theta_lower": list(preset.lower),
        "theta_upper": list(preset.upper),
        "generation_s": time.perf_counter() - started,
    })


def _options_blob(config: FontsConfig) -> dict[str, Any]:
    # the folder's location does not matter, the fonts' bytes (and so their order) do
    return {"config": {k: v for k, v in asdict(config).items() if k != "fonts_dir"}, "version": FORMAT_VERSION}


def cache_key(config: FontsConfig) -> str:
    """The entry's key: the candidate fonts' content hashes (selection order) and the options."""
    files = candidate_fonts(config.root)
    if not files:
        raise UserError(f"no .ttf/.otf files in {config.root}; pass --fonts-dir with a folder of fonts")
    if config.max_fonts is not None and len(files) < config.max_fonts:
        raise too_few_fonts(config.root, len(files), config.max_fonts, ".ttf/.otf files")
    blob = {**_options_blob(config), "candidates": [f.sha256 for f in files]}
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def content_hash(config: FontsConfig, fonts_manifest_hash: str) -> str:
    """The data's hash: the used fonts (manifest hash) and the options, not the candidates."""
    blob = {**_options_blob(config), "manifest": fonts_manifest_hash}
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def _split(entry: cache.Entry, split: str) -> Split:
    frame = entry.table(f"{split}_latents")
    x = torch.from_numpy(entry.array(f"{split}_images"))
    z = torch.from_numpy(frame[list(THETA_NAMES)].to_numpy(np.float32, copy=True))
    ctx = torch.from_numpy(frame[["font", "class"]].to_numpy(np.int64, copy=True))
    return Split(x=x, y=ctx[:, 1].clone(), z=z, ctx=ctx, rows=entry.rows(f"{split}_images"))


_POSITIVE = ("train_size", "test_size", "max_fonts", "resolution")


def check_options(options: dict[str, Any]) -> FontsConfig:
    """The typed config for a spec's fonts options, or one UserError line naming the bad option.

    Cheap (no hashing, no rendering), so a validation pass can call it for every spec; a missing
    folder and a folder with fewer font files than max_fonts are caught here too.
    """
    known = set(FontsConfig.__dataclass_fields__)
    unknown = set(options) - known
    if unknown:
        raise UserError(f"unknown fonts option(s) {sorted(unknown)}; known: {sorted(known)}")
    for name, value in options.items():
        if name == "fonts_dir":
            ok = value is None or isinstance(value, (str, os.PathLike))
            want = "a folder path"
        elif name == "preset":
            ok, want = isinstance(value, str), "a preset name (easy, moderate or hard)"
        else:
            ok = isinstance(value, int) and not isinstance(value, bool) and (name not in _POSITIVE or value >= 1)
            ok = ok or (value is None and name in ("train_size", "test_size", "max_fonts"))
            want = "a positive integer" if name in _POSITIVE else "an integer"
        if not ok:
            raise UserError(f"fonts option {name} must be {want}, got {value!r}; fix the value")
    options = dict(options)
    if options.get("fonts_dir") is not None:
        options["fonts_dir"] = os.fspath(options["fonts_dir"])  # a Path from Python callers
    config = FontsConfig(**options)
    get_preset(config.preset)  # an unknown preset names the known ones
    files = find_font_files(config.root)  # a missing folder names `make fonts`
    if config.max_fonts is not None and len(files) < config.max_fonts:
        raise too_few_fonts(config.root, len(files), config.max_fonts, ".ttf/.otf files")
    return config


def _check(root: Any, cache_dir: Any, options: dict[str, Any]) -> FontsConfig:
    """The registry entry's check: the fonts options, and root/cache_dir as folder paths."""
    cache.check_folder_options("fonts", root=root, cache_dir=cache_dir)
    return check_options(options)


def fonts_dataset(config: FontsConfig, cache_dir: Optional[str | os.PathLike] = None) -> Dataset:
    """Generate (or load from the cache) the FONTS data set described by `config`."""
    check_options(asdict(config))  # fail on bad options before hashing or rendering anything
    key = cache_key(config)
    entry, built = cache.cached("fonts", key, lambda w: _build(config, w), cache_dir)
    meta: dict[str, Any] = entry.meta
    data_hash = content_hash(config, meta["fonts_manifest_hash"])
    meta.update(
        config=asdict(config),  # the entry may have been built from the same bytes in another folder
        prototypes=torch.from_numpy(np.array(entry.array("prototypes"))).float() / 255.0,
        cache_path=str(entry.path),
        manifest_path=str(entry.path / MANIFEST_FILE),
        content_hash=data_hash,
        cache_key=key,
        built_now=built,
    )
    return Dataset("fonts", _split(entry, "train"), _split(entry, "test"), len(LETTERS), data_hash, meta)


@DATASETS.register("fonts", "letters A..J of many fonts under random affine transformations (true manifold known)",
                   check=lambda root=None, cache_dir=None, **options: _check(root, cache_dir, options))
def build_fonts(root: Optional[str] = None, cache_dir: Optional[str] = None, **options: Any) -> Dataset:
    """FONTS; `root` is accepted for a uniform signature but unused (the data is generated)."""
    return fonts_dataset(_check(root, cache_dir, options), cache_dir)
