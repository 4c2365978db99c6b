"""FONTS generation speed from prototypes (issue 2 target: >= 50,000 images/s on 2 cores, i.e.
the paper's 1.12M images in under 25 s). Measures drawing the latent table and rendering the
images with the true decoder, as `raysweep data fonts` does, without disk writes.

    python benchmarks/bench_fonts.py [--n 1120000] [--threads 2] [--smoke]
"""
from __future__ import annotations

import argparse
import time

import torch

from raysweep.data.decoder import TrueDecoder
from raysweep.data.fonts import load_fonts
from raysweep.data.fonts_dataset import FontsConfig, latent_table, render_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_120_000, help="images to generate (the paper's 1.12M)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="20k images, for CI")
    args = parser.parse_args()
    n = 20_000 if args.smoke else args.n
    torch.set_num_threads(args.threads)

    fonts = load_fonts()
    decoder = TrueDecoder(torch.from_numpy(fonts.prototypes).float() / 255.0)
    config = FontsConfig()
    render_split(decoder, latent_table(4096, len(fonts.names), config, "train"))  # warm-up

    started, cpu_started = time.perf_counter(), time.process_time()
    frame = latent_table(n, len(fonts.names), config, "train")
    images = render_split(decoder, frame)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    assert images.shape == (n, 1, 28, 28)

    print(f"fonts_usable: {len(fonts.names)}")
    print(f"images: {n}")
    print(f"threads: {args.threads}")
    print(f"seconds: {seconds:.2f}")
    print(f"cpu_seconds: {cpu_seconds:.2f}")
    print(f"images_per_s: {n / seconds:.0f}")
    # on a shared, overloaded machine wall time is inflated by other processes; CPU time spread
    # over the threads estimates what the same work takes on otherwise idle cores
    print(f"images_per_s_idle_estimate: {n / (cpu_seconds / args.threads):.0f}")


if __name__ == "__main__":
    main()
