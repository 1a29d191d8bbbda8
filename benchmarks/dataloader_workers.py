"""DataLoader(num_workers=N): epochs per second of an augmented image pipeline, N = 0, 1, 2, ...

    python benchmarks/dataloader_workers.py [--workers 0 2] [--images 4096] [--epochs 3]

The pipeline is CIFAR-10's training augmentation, read sample by sample as torchvision's datasets do
(a Dataset whose __getitem__ runs the transforms on one uint8 HWC image): ToTensor, RandomCrop(32,
padding=4), RandomHorizontalFlip, Normalize, collated into batches of 128. No model: this measures the loader
alone, the part that workers take off the training loop. Reported: the best of `--epochs` epochs (wall
clock, so run it on an otherwise idle machine), and the load average before the run.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from nn.data import DataLoader, Dataset
from nn.data.transforms import Compose, Normalize, RandomCrop, RandomHorizontalFlip, ToTensor

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


class AugmentedImages(Dataset):
    """Synthetic CIFAR-10-sized images, transformed one at a time."""

    def __init__(self, n: int) -> None:
        rng = np.random.default_rng(0)
        self.images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        self.labels = rng.integers(0, 10, n)
        self.transform = Compose([ToTensor(), RandomCrop(32, padding=4), RandomHorizontalFlip(),
                                  Normalize(MEAN, STD)])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple:
        return self.transform(self.images[i]), int(self.labels[i])


def epoch_seconds(workers: int, images: int, epochs: int) -> float:
    loader = DataLoader(AugmentedImages(images), batch_size=128, shuffle=True, seed=0, num_workers=workers,
                        persistent_workers=workers > 0)
    best = float("inf")
    for _ in range(epochs):
        start = time.perf_counter()
        for _batch in loader:
            pass
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {args.images} images per epoch")
    base = None
    for n in args.workers:
        s = epoch_seconds(n, args.images, args.epochs)
        base = base or s
        print(f"num_workers={n}: {s:.3f} s per epoch, {args.images / s:,.0f} images/s, {base / s:.2f}x")


if __name__ == "__main__":
    main()
