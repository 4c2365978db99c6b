"""FONTS generation and loading speed. Targets at 1000 fonts on 2 cores:
images_per_s >= 50,000 (the paper's 1.12M images in under 25 s) and load_s < 1 s for the cached
1.12M-image data set.

images_per_s: drawing the latent table and rendering the images with the true decoder, as
`raysweep data fonts` does, without disk writes. load_s: `load_dataset("fonts", ...)` of the
cached data set (hashing the candidate font files, reading the latents, memory-mapping the
images), generating it first when the cache lacks it.

    python benchmarks/bench_fonts.py [--fonts-dir /usr/share/fonts --max-fonts 1000] [--n 1120000] [--smoke]
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Optional

import torch

from raysweep.data import load_dataset
from raysweep.data.decoder import TrueDecoder
from raysweep.data.fonts import font_files, load_fonts
from raysweep.data.fonts_dataset import FontsConfig, latent_table, render_split
from raysweep._core.errors import at_least_one, run_script


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fonts-dir", default=None, help="default: the fonts bundled with matplotlib")
    parser.add_argument("--max-fonts", type=int, default=None, help="exactly this many fonts (default: all usable)")
    parser.add_argument("--n", type=int, default=1_120_000, help="images to render (the paper's 1.12M)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="bundled fonts, 20k images, a small cached set, for CI")
    return parser.parse_args(argv)


def check(args: argparse.Namespace) -> None:
    """What the arguments need, checked in milliseconds before any work (one UserError line)."""
    font_files(args.fonts_dir, args.max_fonts)
    at_least_one(n=args.n)


def main(argv: Optional[list[str]] = None) -> None:
    args = parse_args(argv)
    check(args)
    n = 20_000 if args.smoke else args.n
    torch.set_num_threads(args.threads)

    fonts = load_fonts(args.fonts_dir, args.max_fonts)
    decoder = TrueDecoder(torch.from_numpy(fonts.prototypes).float() / 255.0)
    config = FontsConfig()
    render_split(decoder, latent_table(4096, len(fonts.names), config, "train"))  # warm-up

    started, cpu_started = time.perf_counter(), time.process_time()
    frame = latent_table(n, len(fonts.names), config, "train")
    images = render_split(decoder, frame)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    assert images.shape == (n, 1, 28, 28)
    del images, frame

    options = dict(fonts_dir=args.fonts_dir, max_fonts=args.max_fonts)
    if args.smoke:
        options.update(train_size=2000, test_size=500)
    built = load_dataset("fonts", **options).meta["built_now"]  # make sure the cache holds it
    started = time.perf_counter()
    ds = load_dataset("fonts", **options)
    load_s = time.perf_counter() - started
    assert not ds.meta["built_now"]

    print(f"fonts_used: {len(fonts.names)}")
    print(f"fonts_skipped: {len(fonts.skipped)}")
    print(f"images: {n}")
    print(f"threads: {args.threads}")
    print(f"seconds: {seconds:.2f}")
    print(f"cpu_seconds: {cpu_seconds:.2f}")
    print(f"images_per_s: {n / seconds:.0f}")
    # on a shared, overloaded machine wall time is inflated by other processes; CPU time spread
    # over the threads estimates what the same work takes on otherwise idle cores
    print(f"images_per_s_idle_estimate: {n / (cpu_seconds / args.threads):.0f}")
    print(f"# cached data set: {len(ds.train)} + {len(ds.test)} images ({'generated for this run' if built else 'already cached'})")
    print(f"cached_images: {len(ds.train) + len(ds.test)}")
    print(f"load_s: {load_s:.3f}")


if __name__ == "__main__":
    sys.exit(run_script(main, "bench_fonts"))
