"""A variational autoencoder (Kingma & Welling, 2014) learns the 8x8 handwritten digits, with a 2-D latent space.

    python -m nn.examples.vae                        # writes its pictures into ./examples_output/
    python -m nn.examples.vae --epochs 200 --latent 2 --seed 1

The encoder maps an image x (64 grey levels scaled to [0, 1]) to a Gaussian q(z | x) = N(mu, diag(sigma^2)) over
a 2-D latent z; the decoder maps z back to 64 Bernoulli pixel probabilities p(x | z). Training maximises the
evidence lower bound, i.e. minimises, per image,

    loss = BCE(decoder(z), x) + KL(q(z | x) || N(0, I)),   z = mu + sigma * eps, eps ~ N(0, I)

(the reparameterisation trick: the sample is a differentiable function of mu and sigma), with

    KL = -1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2).

Nothing here needs more than autograd's operations (`randn_like`, `exp`) and `nn.Linear`. The pictures: held-out
digits next to their reconstructions, new digits decoded from a grid of points of the latent space, and the test
digits' latent means coloured by class (the classes separate without the model ever seeing a label).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

import numpy as np

import autograd
import nn
import nn.functional as F
from nn.data import DataLoader, TensorDataset, load_digits, train_test_split


class VAE(nn.Module):
    """x (N, 64) -> hidden -> (mu, log sigma^2) (N, latent); z (N, latent) -> hidden -> 64 pixel logits."""

    def __init__(self, pixels: int = 64, hidden: int = 128, latent: int = 2) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(pixels, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.mu = nn.Linear(hidden, latent)
        self.log_var = nn.Linear(hidden, latent)
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                     nn.Linear(hidden, pixels))

    def encode(self, x: autograd.Tensor) -> tuple[autograd.Tensor, autograd.Tensor]:
        h = self.encoder(x)
        return self.mu(h), self.log_var(h)

    def forward(self, x: autograd.Tensor) -> tuple[autograd.Tensor, autograd.Tensor, autograd.Tensor]:
        """(pixel logits of a reconstruction, mu, log sigma^2); the latent is sampled with the reparameterisation
        trick in training, and is the mean in evaluation."""
        mu, log_var = self.encode(x)
        z = mu + (0.5 * log_var).exp() * autograd.randn_like(mu) if self.training else mu
        return self.decoder(z), mu, log_var


def vae_loss(logits: autograd.Tensor, x: autograd.Tensor, mu: autograd.Tensor,
             log_var: autograd.Tensor) -> tuple[autograd.Tensor, autograd.Tensor]:
    """(negative ELBO, reconstruction term), both per image: summed over pixels and latents, averaged over the batch."""
    n = x.shape[0]
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / n
    kl = -0.5 * (1 + log_var - mu * mu - log_var.exp()).sum() / n
    return reconstruction + kl, reconstruction


def evaluate(model: VAE, x: autograd.Tensor) -> tuple[float, float]:
    model.eval()
    with autograd.no_grad():
        logits, mu, log_var = model(x)
        loss, reconstruction = vae_loss(logits, x, mu, log_var)
    return loss.item(), reconstruction.item()


def train(model: VAE, loader: DataLoader, x_test: autograd.Tensor, epochs: int, lr: float,
          log_every: int) -> dict[str, list[float]]:
    optimizer = nn.optim.Adam(model.parameters(), lr=lr)
    history: dict[str, list[float]] = {"train": [], "test": []}
    for epoch in range(1, epochs + 1):
        model.train()
        total, seen = 0.0, 0
        for (x,) in loader:
            logits, mu, log_var = model(x)
            loss, _ = vae_loss(logits, x, mu, log_var)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, seen = total + loss.item() * len(x), seen + len(x)
        history["train"].append(total / seen)
        history["test"].append(evaluate(model, x_test)[0])
        if log_every and (epoch % log_every == 0 or epoch == epochs):
            print(f"epoch {epoch:4d}/{epochs}: loss {history['train'][-1]:.2f} per image (test "
                  f"{history['test'][-1]:.2f})", flush=True)
    return history


def draw(model: VAE, x_test: autograd.Tensor, y_test: np.ndarray, history: dict[str, list[float]],
         out_dir: str) -> list[str]:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return ["pictures: skipped (matplotlib is not installed)"]
    model.eval()
    with autograd.no_grad():
        reconstructions = model(x_test[:12])[0].sigmoid().data
        means = model.encode(x_test)[0].data
    paths = []

    fig = Figure(figsize=(9, 1.9), layout="constrained")
    axes = fig.subplots(2, 12)
    for i in range(12):
        for row, images in enumerate((x_test.data[:12], reconstructions)):
            axes[row, i].imshow(images[i].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
            axes[row, i].set_axis_off()
    fig.suptitle("Held-out digits (top) and their reconstructions (bottom)")
    paths.append(os.path.join(out_dir, "vae_reconstructions.png"))
    fig.savefig(paths[-1], dpi=120)

    if means.shape[1] == 2:
        steps = 15  # a grid of latent points at the normal distribution's quantiles 3% ... 97%
        grid = _normal_quantiles(np.linspace(0.03, 0.97, steps))
        points = np.array([[a, b] for b in grid[::-1] for a in grid], dtype=np.float32)
        with autograd.no_grad():
            decoded = model.decoder(autograd.tensor(points)).sigmoid().data
        tiles = np.pad(decoded.reshape(steps, steps, 8, 8), ((0, 0), (0, 0), (1, 1), (1, 1)))  # blank borders:
        canvas = tiles.transpose(0, 2, 1, 3).reshape(steps * 10, steps * 10)  # digits fill 8 rows, and would merge
        fig = Figure(figsize=(12, 5.6), layout="constrained")
        left, right = fig.subplots(1, 2)
        left.imshow(canvas, cmap="gray_r", extent=(grid[0], grid[-1], grid[0], grid[-1]), interpolation="nearest")
        left.set(title="Samples: the decoder on a grid of latent points", xlabel="z1", ylabel="z2")
        scatter = right.scatter(means[:, 0], means[:, 1], c=y_test, cmap="tab10", s=8)
        right.legend(*scatter.legend_elements(), title="digit", fontsize=7, loc="upper right")
        right.set(title="Latent means of the held-out digits", xlabel="z1", ylabel="z2")
        paths.append(os.path.join(out_dir, "vae_latent_space.png"))
        fig.savefig(paths[-1], dpi=120)
    else:
        with autograd.no_grad():
            samples = model.decoder(autograd.randn(24, means.shape[1])).sigmoid().data
        fig = Figure(figsize=(9, 1.9), layout="constrained")
        for ax, image in zip(fig.subplots(2, 12).ravel(), samples):
            ax.imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
            ax.set_axis_off()
        fig.suptitle("Samples: the decoder on z ~ N(0, I)")
        paths.append(os.path.join(out_dir, "vae_samples.png"))
        fig.savefig(paths[-1], dpi=120)

    fig = Figure(figsize=(5, 3.5), layout="constrained")
    ax = fig.subplots()
    ax.plot(np.arange(1, len(history["train"]) + 1), history["train"], label="training")
    ax.plot(np.arange(1, len(history["test"]) + 1), history["test"], label="held-out")
    ax.set(xlabel="epoch", ylabel="negative ELBO per image (nats)", title="Training", yscale="log")
    ax.legend()
    paths.append(os.path.join(out_dir, "vae_loss.png"))
    fig.savefig(paths[-1], dpi=120)
    return [f"picture: {p}" for p in paths]


def _normal_quantiles(p: np.ndarray) -> np.ndarray:
    """The standard normal's quantile function, by bisection on its CDF (erf)."""
    low, high = np.full_like(p, -8.0), np.full_like(p, 8.0)
    for _ in range(60):
        middle = (low + high) / 2
        below = 0.5 * (1 + autograd.erf(autograd.tensor(middle / np.sqrt(2))).data) < p
        low, high = np.where(below, middle, low), np.where(below, high, middle)
    return (low + high) / 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nn.examples.vae", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="examples_output", help="directory for the pictures")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--latent", type=int, default=2, help="latent dimensions (2 draws the latent space)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    autograd.manual_seed(args.seed)
    started = time.perf_counter()

    X, y = load_digits(flatten=True)
    X = X / 16.0                                           # grey levels 0..16 -> [0, 1]
    x_train, x_test, _, y_test = train_test_split(X, y, test_size=0.2, seed=args.seed, stratify=y)
    loader = DataLoader(TensorDataset(x_train), batch_size=args.batch_size, shuffle=True, seed=args.seed)
    model = VAE(latent=args.latent)
    print(f"VAE: {model.num_parameters()} parameters, a {args.latent}-D latent space; {len(x_train)} training and "
          f"{len(x_test)} held-out digits")
    history = train(model, loader, x_test, args.epochs, args.lr, log_every=max(1, args.epochs // 5))
    loss, reconstruction = evaluate(model, x_test)
    print(f"held-out: negative ELBO {loss:.2f} nats per image, of which reconstruction {reconstruction:.2f} "
          f"(a model knowing nothing, every pixel at 1/2, pays 64 ln 2 = {64 * np.log(2):.1f})")
    print(f"time: {time.perf_counter() - started:.1f} s")
    for message in draw(model, x_test, y_test.data, history, args.out):
        print(message)
    return 0 if loss < 64 * np.log(2) else 1


if __name__ == "__main__":
    sys.exit(main())
