"""`raysweep data fonts|fmnist|load|fetch`: generate FONTS, find Fashion-MNIST, check a real data
set, or download one.

`data fmnist` says where Fashion-MNIST was found (search order: --data-root, $RAYSWEEP_DATA, then
Debian's dataset-fashion-mnist, which `make fmnist` installs; raysweep.data.fmnist) and whether
the files are the released ones, then prints the summary.

`data fonts` renders the fonts of a folder and caches the data set (a second call costs only
hashing the font files) with the manifest of the fonts used; `data fonts --check MANIFEST` says
which fonts this machine's folder has that the manifest lacks, and the reverse (exit 1 when the
font sets differ), without generating anything; `data load NAME` reads a registered data set and prints its summary
(for CelebA this also fills the decoded-image cache); `data fetch NAME` is the only command that
touches the network (torchvision's download=True).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time

from raysweep.commands import describe
from raysweep._core.errors import UserError

FETCHABLE = ("emnist", "fmnist", "celeba")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("data", help="generate FONTS, load or fetch the real data sets",
                              description=describe(__doc__))
    sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    f = sub.add_parser("fonts", help="generate (or reuse the cached) FONTS data set")
    f.add_argument("--fonts-dir", default=None, help="folder searched recursively for .ttf/.otf (default: matplotlib's fonts)")
    f.add_argument("--preset", default="hard", help="transformation ranges: easy, moderate or hard")
    f.add_argument("--train-size", type=int, default=None, help="default: 96 per (font, letter)")
    f.add_argument("--test-size", type=int, default=None, help="default: 16 per (font, letter)")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--max-fonts", type=int, default=None,
                   help="exactly the first N usable fonts in content-hash order (fewer is an error)")
    f.add_argument("--check", metavar="MANIFEST", default=None,
                   help="compare this folder's font set with a manifest.json instead of generating")
    f.add_argument("--cache-dir", default=None, help="default: $RAYSWEEP_CACHE or ~/.cache/raysweep")
    f.set_defaults(func=run_fonts)

    fm = sub.add_parser("fmnist", help="find Fashion-MNIST (data root, $RAYSWEEP_DATA, Debian) and check it")
    fm.add_argument("--data-root", default=None, help="look only here (default: $RAYSWEEP_DATA, then "
                    "/usr/share/datasets/fashion-mnist from `make fmnist`)")
    fm.set_defaults(func=run_fmnist)

    ld = sub.add_parser("load", help="load a registered data set and print its summary")
    ld.add_argument("name", help="see `raysweep list datasets`")
    ld.add_argument("--data-root", default=None, help="folder of the real data sets (default: $RAYSWEEP_DATA)")
    ld.add_argument("--cache-dir", default=None)
    ld.set_defaults(func=run_load)

    fe = sub.add_parser("fetch", help="download a real data set with torchvision (needs network)")
    fe.add_argument("name", choices=FETCHABLE)
    fe.add_argument("--data-root", default=None, help="where to put it (default: $RAYSWEEP_DATA)")
    fe.set_defaults(func=run_fetch)


def _print_summary(ds, seconds: float) -> None:
    print(f"dataset: {ds.name}")
    print(f"train: {len(ds.train)}  test: {len(ds.test)}  image: {'x'.join(map(str, ds.image_shape))}  classes: {ds.n_classes}")
    print(f"hash: {ds.data_hash[:16]}")
    if "cache_path" in ds.meta:
        print(f"cache: {ds.meta['cache_path']}")
    print(f"time_s: {seconds:.2f}")


def check_fonts(args: argparse.Namespace) -> int:
    """Exit 0 when this folder yields the manifest's font set, else 1 with one line per font."""
    from raysweep.data.fonts import load_fonts
    from raysweep.data.fonts_manifest import compare, manifest_hash, read_manifest

    header, expected = read_manifest(args.check)
    max_fonts = args.max_fonts if args.max_fonts is not None else header.get("max_fonts")
    fonts = load_fonts(args.fonts_dir, max_fonts)
    diff = compare(expected, fonts.manifest)
    print(f"manifest: {len(expected)} fonts, hash {header.get('hash', manifest_hash(expected))[:16]}")
    print(f"here: {len(fonts.manifest)} fonts, hash {manifest_hash(fonts.manifest)[:16]}")
    for line in diff:
        print(line)
    print("same font set" if not diff else f"font sets differ: {len(diff)} line(s) above")
    return 1 if diff else 0


def run_fonts(args: argparse.Namespace) -> int:
    from raysweep.data.fonts_dataset import FontsConfig, fonts_dataset

    logging.basicConfig(format="raysweep: warning: %(message)s", level=logging.WARNING, stream=sys.stderr)
    if args.check:
        return check_fonts(args)
    started = time.perf_counter()
    config = FontsConfig(fonts_dir=args.fonts_dir, preset=args.preset, train_size=args.train_size,
                         test_size=args.test_size, seed=args.seed, max_fonts=args.max_fonts)
    ds = fonts_dataset(config, args.cache_dir)
    meta = ds.meta
    print(f"fonts used: {len(meta['fonts'])}  skipped: {len(meta['skipped'])}  "
          f"({'generated' if meta['built_now'] else 'reused from cache'})")
    print(f"preset: {meta['preset']}")
    print(f"manifest: {meta['manifest_path']} (hash {meta['fonts_manifest_hash'][:16]})")
    _print_summary(ds, time.perf_counter() - started)
    return 0


SOURCES = {"root": "--data-root", "RAYSWEEP_DATA": "$RAYSWEEP_DATA", "debian": "Debian package dataset-fashion-mnist"}


def run_fmnist(args: argparse.Namespace) -> int:
    from raysweep.data.fmnist import load_fmnist

    started = time.perf_counter()
    ds = load_fmnist(args.data_root)
    print(f"fmnist: found in {ds.meta['root']} (from {SOURCES[ds.meta['source']]})")
    print("files: " + ", ".join(ds.meta["files"]))
    print("check: " + ("sha256 of all four files matches the released Fashion-MNIST" if ds.meta["released"]
                       else "not the released files (other sizes): read on structure alone"))
    _print_summary(ds, time.perf_counter() - started)
    return 0


def run_load(args: argparse.Namespace) -> int:
    from raysweep.data import load_dataset

    started = time.perf_counter()
    ds = load_dataset(args.name, root=args.data_root, cache_dir=args.cache_dir)
    _print_summary(ds, time.perf_counter() - started)
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    from torchvision import datasets

    from raysweep.data.real import data_root

    root = str(data_root(args.data_root))
    try:
        if args.name == "emnist":
            datasets.EMNIST(root, split="digits", download=True)
        elif args.name == "fmnist":
            datasets.FashionMNIST(root, download=True)
        else:  # needs the gdown package; Google Drive quotas sometimes refuse, then retry later
            datasets.CelebA(root, split="all", download=True)
    except (RuntimeError, OSError, ImportError) as e:
        raise UserError(f"downloading {args.name} failed ({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                        "check the network (CelebA also needs `pip install gdown`) or place the files by hand") from None
    print(f"{args.name}: ready under {root}")
    return 0
