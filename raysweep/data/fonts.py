"""Glyph prototypes of FONTS: the letters A..J of every usable font in a folder (Sec. 3.1).

The paper rendered 1000 Google Fonts at 28x28 (point size 21). Ours renders at 56x56 (the same
0.75 em-to-canvas ratio) so the true decoder's resampling to 28x28 is anti-aliased; any folder of
.ttf/.otf files serves, and by default the fonts that ship inside matplotlib do, so FONTS needs
nothing beyond the package's dependencies. Rendering uses matplotlib's FreeType binding. Fonts
are tried in content-hash order (raysweep.data.fonts_manifest), so `max_fonts` names one font
set on every machine with the same font files; `make fonts` installs the paper-scale set.

A font is skipped, with one warning line (the first 20; then one summary line), when it fails
to load, lacks a glyph, maps a letter to a non-letter glyph (symbol fonts), renders a glyph
blank, renders two letters identically, or renders exactly like a font already taken.
"""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from raysweep.data.fonts_manifest import FONT_SUFFIXES, FontFile, FontRecord, candidate_fonts, find_font_files  # noqa: F401
from raysweep._core.errors import UserError

log = logging.getLogger(__name__)

LETTERS = "ABCDEFGHIJ"
RESOLUTION = 56  # prototype side in pixels: 2x the 28x28 output (see raysweep.data.transform)
EM_FRACTION = 0.75  # em size / canvas side, the paper's point size 21 on 28 pixels
MARGIN = 2  # pixels kept free around a glyph scaled down to fit the canvas
MIN_INK = 0.5  # a glyph with less than this many pixels' worth of ink counts as blank
MAX_SKIP_WARNINGS = 20  # one line per skipped font up to here, then one summary line


def default_fonts_dir() -> Path:
    """The TrueType fonts bundled with matplotlib."""
    import matplotlib  # lazy: matplotlib costs 0.3 s at import (measured); only font rendering needs it

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@dataclass
class FontSet:
    """The usable fonts of a folder and their prototypes.

    prototypes: uint8 [F, 10, R, R], white on black (divide by 255 for [0,1]).
    names:      font file paths relative to the folder, in font-index order.
    skipped:    (relative path, reason) per skipped font.
    manifest:   (file, family, sha256) per font used, in font-index order.
    """

    prototypes: np.ndarray
    names: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    manifest: list[FontRecord] = field(default_factory=list)


def _fit_canvas(glyph: np.ndarray, size: int) -> np.ndarray:
    """Centre the ink bounding box of `glyph` on a size x size canvas, shrinking it if too big."""
    rows, cols = np.nonzero(glyph)
    ink = glyph[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    h, w = ink.shape
    limit = size - 2 * MARGIN
    if max(h, w) > limit:  # e.g. tall display glyphs; keep the aspect ratio
        f = limit / max(h, w)
        h, w = max(1, round(h * f)), max(1, round(w * f))
        ink = np.asarray(Image.fromarray(ink).resize((w, h), Image.Resampling.LANCZOS))
    canvas = np.zeros((size, size), dtype=np.uint8)
    top, left = (size - h) // 2, (size - w) // 2
    canvas[top : top + h, left : left + w] = ink
    return canvas


def _glyph_problem(font, letter: str) -> Optional[str]:
    """Why `letter` of an FT2Font cannot be used, or None."""
    from matplotlib.ft2font import FaceFlags  # lazy, as above

    index = font.get_char_index(ord(letter))
    if index == 0:
        return f"lacks the glyph {letter!r}"
    if FaceFlags.GLYPH_NAMES in font.face_flags:
        name = font.get_glyph_name(index)
        if not (name == letter or name.startswith(letter + ".") or name.lower() == f"uni{ord(letter):04x}"):
            return f"maps {letter!r} to the non-letter glyph {name!r} (a symbol font)"
    return None


def _open(path: Path):
    from matplotlib.ft2font import FT2Font  # lazy, as above

    try:
        return FT2Font(str(path))
    except Exception as e:  # FreeType reports bad files with assorted exception types
        raise ValueError(f"cannot be loaded ({type(e).__name__}: {e})") from None


def font_family(path: Path) -> str:
    """'Family Style' as the font names itself (e.g. 'DejaVu Sans Bold'), for the manifest."""
    font = _open(path)
    style = "" if font.style_name in ("Regular", "Book", "Normal", "") else f" {font.style_name}"
    return f"{font.family_name}{style}"


def render_font(path: Path, size: int = RESOLUTION) -> np.ndarray:
    """Render A..J of one font file: uint8 [10, size, size]; raises ValueError if unusable."""
    from matplotlib.ft2font import LoadFlags  # lazy, as above

    font = _open(path)
    font.set_size(size * EM_FRACTION, 72)  # at 72 dpi one point is one pixel
    glyphs = []
    for letter in LETTERS:
        problem = _glyph_problem(font, letter)
        if problem:
            raise ValueError(problem)
        font.set_text(letter, 0.0, flags=LoadFlags.NO_HINTING)
        font.draw_glyphs_to_bitmap(antialiased=True)
        bitmap = np.asarray(font.get_image(), dtype=np.uint8)
        if bitmap.sum() < MIN_INK * 255:
            raise ValueError(f"renders {letter!r} blank")
        glyphs.append(_fit_canvas(bitmap, size))
    stack = np.stack(glyphs)
    for i in range(len(LETTERS)):
        for j in range(i):
            if np.array_equal(stack[i], stack[j]):
                raise ValueError(f"renders {LETTERS[j]!r} and {LETTERS[i]!r} identically")
    return stack


def too_few_fonts(root: Path, found: int, wanted: int, what: str) -> UserError:
    return UserError(
        f"{root} has {found} {what}, fewer than max_fonts={wanted}; run `make fonts` (installs the "
        "paper-scale font set) or lower max_fonts"
    )


def font_files(fonts_dir: Optional[str | os.PathLike] = None, max_fonts: Optional[int] = None
               ) -> tuple[Path, list[FontFile]]:
    """The font folder (default: matplotlib's) and its candidate files, or one UserError line
    when it has fewer files than `max_fonts`: checked without rendering, so scripts and specs can
    refuse an impossible font count in milliseconds."""
    root = Path(fonts_dir).expanduser() if fonts_dir else default_fonts_dir()
    files = candidate_fonts(root)
    if max_fonts is not None and len(files) < max_fonts:
        raise too_few_fonts(root, len(files), max_fonts, ".ttf/.otf files")
    return root, files


def load_fonts(fonts_dir: Optional[str | os.PathLike] = None, max_fonts: Optional[int] = None, size: int = RESOLUTION) -> FontSet:
    """Render the first `max_fonts` usable fonts below `fonts_dir` (default: matplotlib's) in
    content-hash order, or all of them; warn once per skip. Fewer than max_fonts is a UserError:
    FONTS-1000 always means 1000 fonts."""
    root, files = font_files(fonts_dir, max_fonts)
    prototypes, manifest, skipped, seen = [], [], [], {}
    for font in files:
        if max_fonts is not None and len(manifest) >= max_fonts:
            break
        try:
            stack = render_font(font.path, size)
            digest = hashlib.sha256(stack.tobytes()).hexdigest()
            if digest in seen:
                raise ValueError(f"renders exactly like {seen[digest]}")
        except ValueError as e:
            if len(skipped) < MAX_SKIP_WARNINGS:
                log.warning("skipping font %s: %s", font.name, e)
            skipped.append((font.name, str(e)))
            continue
        seen[digest] = font.name
        prototypes.append(stack)
        manifest.append(FontRecord(font.name, font_family(font.path), font.sha256))
    if len(skipped) > MAX_SKIP_WARNINGS:
        log.warning("skipped %d more fonts (all skips are listed under `skipped` in the cache entry's meta.json)",
                    len(skipped) - MAX_SKIP_WARNINGS)
    if not manifest:
        raise UserError(
            f"no usable font in {root} ({len(files)} .ttf/.otf files, {len(skipped)} skipped); "
            "pass --fonts-dir with a folder of fonts that have the letters A..J"
        )
    if max_fonts is not None and len(manifest) < max_fonts:
        raise too_few_fonts(root, len(manifest), max_fonts, f"usable fonts ({len(skipped)} skipped)")
    return FontSet(np.stack(prototypes), [r.file for r in manifest], skipped, manifest)
