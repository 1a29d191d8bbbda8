"""The demo: a small convolutional network learns to read handwritten digits, in seconds, on a laptop CPU.

    python -m nn.demo                          # writes its files into ./demo_output/
    python -m nn.demo --out runs/1 --epochs 20 --seed 1

What it does, in order (read `main` from top to bottom):
  1. loads the 1,797 8x8 digits shipped with the package, holds out 20% for testing (stratified), and
     z-scores the pixels with statistics of the training images only;
  2. trains conv-relu-pool, conv-relu-pool, linear with Adam and cross-entropy, mini-batches of 32, with a
     progress bar per epoch: a plain training loop, written out below;
  3. measures the test accuracy (at least 97%), saves the weights with `nn.save`, loads them into a fresh
     model with `nn.load`, and checks it gets the same accuracy;
  4. draws the computation graph of one training step as SVG (with Graphviz installed) and the loss curves
     as PNG (with matplotlib), and prints where it wrote them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

import autograd
import nn
import nn.functional as F
from nn.data import DataLoader, StandardScaler, TensorDataset, load_digits, train_test_split

TARGET_ACCURACY = 0.97


def build_model() -> nn.Module:
    """(N, 1, 8, 8) -> conv 3x3 (16) -> relu -> pool -> conv 3x3 (32) -> relu -> pool -> (N, 128) -> (N, 10)."""
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 16 x 4 x 4
        nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 32 x 2 x 2
        nn.Flatten(), nn.Linear(32 * 2 * 2, 10),                                  # 10 class scores
    )


def accuracy(model: nn.Module, X: autograd.Tensor, y: autograd.Tensor) -> float:
    """Fraction of `X` classified correctly, in eval mode, without recording a graph."""
    model.eval()
    with autograd.no_grad():
        predicted = model(X).argmax(dim=1)
    return float((predicted == y).float().mean().item())


def train(model: nn.Module, loader: DataLoader, X_test: autograd.Tensor, y_test: autograd.Tensor, epochs: int,
          lr: float, progress: bool = True) -> dict[str, list[float]]:
    """The training loop: for every batch, zero the gradients, forward, loss, backward, step."""
    optimizer = nn.optim.Adam(model.parameters(), lr=lr)
    history: dict[str, list[float]] = {"batch_loss": [], "train_loss": [], "test_loss": [], "test_acc": [],
                                       "epoch_seconds": []}
    bar_factory = _tqdm() if progress else None
    for epoch in range(epochs):
        start = time.perf_counter()
        model.train()
        bar = bar_factory(total=len(loader), desc=f"epoch {epoch + 1:2d}/{epochs}") if bar_factory else None
        total, seen = 0.0, 0
        for x, y in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            history["batch_loss"].append(loss.item())
            total, seen = total + loss.item() * len(y), seen + len(y)
            if bar is not None:
                bar.set_postfix(loss=f"{total / seen:.4f}", refresh=False)
                bar.update()
        seconds = time.perf_counter() - start  # the epoch's training time, without the evaluation below
        model.eval()
        with autograd.no_grad():
            test_loss = F.cross_entropy(model(X_test), y_test).item()
        test_acc = accuracy(model, X_test, y_test)
        for key, value in (("train_loss", total / seen), ("test_loss", test_loss), ("test_acc", test_acc),
                           ("epoch_seconds", seconds)):
            history[key].append(value)
        summary = f"loss={total / seen:.4f}, test_loss={test_loss:.4f}, test_acc={100 * test_acc:.2f}%"
        if bar is not None:
            bar.set_postfix_str(summary)
            bar.close()
        elif progress:
            print(f"epoch {epoch + 1:2d}/{epochs}: {summary} ({seconds:.2f} s)")
    return history


def draw_training_step(model: nn.Module, x: autograd.Tensor, y: autograd.Tensor, out_dir: str) -> str:
    """Draw the graph of one training step (forward, loss, gradients) with autograd.viz. Returns a message."""
    try:
        import graphviz

        from autograd import viz
    except ImportError as err:
        return f"graph of one training step: skipped ({err}; `pip install graphviz` for drawings)"
    model.train()
    model.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward(retain_graph=True)  # keep the graph's values so the drawing can show every gradient
    graph = viz.draw(loss, names=dict(model.named_parameters()), rankdir="TB")
    model.zero_grad()
    svg_path = os.path.join(out_dir, "training_step.svg")
    try:
        svg = graph.pipe(format="svg")
    except graphviz.ExecutableNotFound:
        dot_path = os.path.join(out_dir, "training_step.dot")
        with open(dot_path, "w", encoding="utf-8") as f:
            f.write(graph.source)
        return (f"graph of one training step: {dot_path} (DOT text; install Graphviz, e.g. `apt install graphviz`,"
                f" for the SVG, or render it with `dot -Tsvg {dot_path}`)")
    with open(svg_path, "wb") as f:
        f.write(svg)
    return f"graph of one training step: {svg_path}"


def plot_history(history: dict[str, list[float]], out_dir: str) -> str:
    """Loss curves (per batch and per epoch) and test accuracy, as a PNG. Returns a message."""
    try:
        from matplotlib.figure import Figure  # no pyplot: no GUI backend, nothing global changed
    except ImportError:
        return "loss curve: skipped (matplotlib is not installed; `pip install matplotlib`)"
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    batches_per_epoch = len(history["batch_loss"]) / max(len(epochs), 1)
    fig = Figure(figsize=(10, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.plot(np.arange(1, len(history["batch_loss"]) + 1) / batches_per_epoch, history["batch_loss"],
              color="0.75", linewidth=0.8, label="training loss per batch")
    left.plot(epochs, history["train_loss"], "o-", label="training loss (epoch mean)")
    left.plot(epochs, history["test_loss"], "s-", label="test loss")
    left.set(xlabel="epoch", ylabel="cross-entropy", yscale="log", title="Loss")
    left.legend()
    right.plot(epochs, 100 * np.asarray(history["test_acc"]), "o-", color="tab:green")
    right.axhline(100 * TARGET_ACCURACY, color="0.5", linestyle="--", linewidth=1, label="97%")
    right.set(xlabel="epoch", ylabel="accuracy (%)", title="Test accuracy")
    right.legend()
    path = os.path.join(out_dir, "loss_curve.png")
    fig.savefig(path, dpi=120)
    return f"loss curve: {path}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nn.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="demo_output", help="directory for the files (default: ./demo_output)")
    parser.add_argument("--epochs", type=int, default=15, help="passes over the training set (default: 15)")
    parser.add_argument("--seed", type=int, default=0, help="random seed: weights, split, shuffles (default: 0)")
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam's learning rate (default: 3e-3)")
    parser.add_argument("--batch-size", type=int, default=32, help="mini-batch size (default: 32)")
    parser.add_argument("--no-progress", action="store_true", help="one line per epoch instead of progress bars")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    started = time.perf_counter()
    autograd.manual_seed(args.seed)

    # 1. data: hold out a test set, scale with the training set's statistics only
    X, y = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, seed=args.seed, stratify=y)
    scaler = StandardScaler(dim=None).fit(X_train)  # one mean and std for all pixels
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    loader = DataLoader(TensorDataset(X_train, y_train), batch_size=args.batch_size, shuffle=True, seed=args.seed)
    print(f"digits: {len(y_train)} training and {len(y_test)} test images of 8x8 pixels, 10 classes")

    # 2. model and training
    model = build_model()
    print(f"model: {model.num_parameters()} parameters\n{model}")
    history = train(model, loader, X_test, y_test, args.epochs, args.lr, progress=not args.no_progress)
    train_seconds = sum(history["epoch_seconds"])

    # 3. test, save, reload
    test_acc = accuracy(model, X_test, y_test)
    weights_path = os.path.join(args.out, "digits_cnn.safetensors")
    nn.save(model.state_dict(), weights_path)
    reloaded = build_model()
    reloaded.load_state_dict(nn.load(weights_path))
    reloaded_acc = accuracy(reloaded, X_test, y_test)

    # 4. pictures
    messages = [draw_training_step(model, X_train[:8], y_train[:8], args.out), plot_history(history, args.out)]

    ok = test_acc >= TARGET_ACCURACY and reloaded_acc == test_acc
    print()
    print(f"test accuracy: {100 * test_acc:.2f}% ({'at least' if test_acc >= TARGET_ACCURACY else 'BELOW'} "
          f"{100 * TARGET_ACCURACY:.0f}%) after {args.epochs} epochs, "
          f"{train_seconds:.1f} s of training ({train_seconds / max(args.epochs, 1):.2f} s per epoch)")
    print(f"saved weights: {weights_path}; reloaded model's test accuracy: {100 * reloaded_acc:.2f}% "
          f"({'the same' if reloaded_acc == test_acc else 'DIFFERENT: a bug'})")
    for message in messages:
        print(message)
    print(f"total time: {time.perf_counter() - started:.1f} s; all files are in {os.path.abspath(args.out)}")
    return 0 if ok else 1


def _tqdm() -> Any:
    try:
        from tqdm import tqdm
    except ImportError:  # optional: fall back to one printed line per epoch
        return None
    return tqdm


if __name__ == "__main__":
    sys.exit(main())
