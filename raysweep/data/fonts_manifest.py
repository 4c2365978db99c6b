"""A named, reproducible FONTS font set: which font files, in which order, by content.

Candidate fonts are ordered by the sha256 of their bytes (ties: relative path), not by path, so
`max_fonts: 1000` takes the same 1000 fonts on every machine that holds the same font files,
wherever a package manager put them. The manifest lists the fonts used (file name, family,
sha256) in font-index order; its hash covers the ordered content hashes only, so the same fonts
under other names or folders give the same hash and one changed byte of one font changes it.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

from raysweep._core.errors import UserError

FONT_SUFFIXES = (".ttf", ".otf")
MANIFEST_FILE = "manifest.json"  # inside the FONTS cache entry, next to the arrays
MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class FontFile:
    """One candidate font file: where it is, its name below the folder, its content hash."""

    path: Path
    name: str  # relative posix path below the fonts folder
    sha256: str


@dataclass(frozen=True)
class FontRecord:
    """One manifest line: a font that was used, in font-index order."""

    file: str
    family: str
    sha256: str


def _digest(path: Path) -> str:
    # A font that cannot be read cannot be hashed, so the content-hash order (which fonts make up
    # max_fonts) is unknown: stop with its name instead of skipping it like an unrenderable font.
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as e:
        raise UserError(f"font file {path} cannot be read ({e.strerror or e}); fix its permissions or "
                        "remove it from the fonts folder") from None


def find_font_files(fonts_dir: Path) -> list[Path]:
    """Every .ttf/.otf below `fonts_dir`, sorted by relative path (symlinks followed)."""
    if not fonts_dir.is_dir():
        what = "is not a folder" if fonts_dir.exists() else "does not exist"
        raise UserError(f"fonts folder {fonts_dir} {what}; run `make fonts` (the paper-scale font set) "
                        "or pass a folder of .ttf/.otf files as --fonts-dir / fonts_dir")
    files = []
    for top, _, names in os.walk(fonts_dir, followlinks=True):  # os.walk: ~4x faster than rglob here
        files += [Path(top) / n for n in names if n.lower().endswith(FONT_SUFFIXES)]
    files = [p for p in files if p.is_file()]
    return sorted(files, key=lambda p: p.relative_to(fonts_dir).as_posix())


def candidate_fonts(fonts_dir: Path) -> list[FontFile]:
    """The font files of a folder in selection order: by content hash, then relative path."""
    found = [FontFile(p, p.relative_to(fonts_dir).as_posix(), _digest(p)) for p in find_font_files(fonts_dir)]
    return sorted(found, key=lambda f: (f.sha256, f.name))


def manifest_hash(records: list[FontRecord]) -> str:
    """sha256 over the ordered content hashes (names and families do not enter: same bytes, same data)."""
    return hashlib.sha256("\n".join(r.sha256 for r in records).encode()).hexdigest()


def manifest_dict(records: list[FontRecord], fonts_dir: str, max_fonts: Optional[int]) -> dict[str, Any]:
    return {
        "format": MANIFEST_FORMAT,
        "fonts_dir": fonts_dir,
        "max_fonts": max_fonts,
        "count": len(records),
        "hash": manifest_hash(records),
        "fonts": [asdict(r) for r in records],
    }


def write_manifest(path: Path, records: list[FontRecord], fonts_dir: str, max_fonts: Optional[int]) -> None:
    path.write_text(json.dumps(manifest_dict(records, fonts_dir, max_fonts), indent=1) + "\n")


def read_manifest(path: str | os.PathLike) -> tuple[dict[str, Any], list[FontRecord]]:
    """(the manifest's header fields, its records); a missing or malformed file is a UserError."""
    try:
        data = json.loads(Path(path).read_text())
        records = [FontRecord(str(f["file"]), str(f["family"]), str(f["sha256"])) for f in data["fonts"]]
    except FileNotFoundError:
        raise UserError(f"font manifest {path} does not exist; pass the manifest.json that `raysweep data fonts` wrote") from None
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"font manifest {path} is not a raysweep font manifest ({type(e).__name__}: {e}); "
                        "pass the manifest.json that `raysweep data fonts` wrote") from None
    return data, records


def compare(expected: list[FontRecord], actual: list[FontRecord]) -> list[str]:
    """One line per difference between two manifests (empty when they name the same font set)."""
    have = {r.sha256: r for r in actual}
    want = {r.sha256: r for r in expected}
    lines = [f"missing here: {r.file} ({r.family}) sha256 {r.sha256[:12]}" for r in expected if r.sha256 not in have]
    lines += [f"only here: {r.file} ({r.family}) sha256 {r.sha256[:12]}" for r in actual if r.sha256 not in want]
    common_expected = [r.sha256 for r in expected if r.sha256 in have]
    common_actual = [r.sha256 for r in actual if r.sha256 in want]
    if not lines and common_expected != common_actual:  # same fonts, other order: other font indices
        lines.append("same fonts in another order (the font indices of the data differ)")
    return lines
