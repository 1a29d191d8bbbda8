"""A decoder-only transformer (a small GPT) learns to sort digits, in about a minute on a laptop CPU.

    python -m nn.examples.transformer                 # writes its pictures into ./examples_output/
    python -m nn.examples.transformer --steps 3000 --out runs/gpt --seed 1

The task is minGPT's sorting demo with ten digits: read 6 digits, then write them in ascending order, one token at
a time. The model sees the 11 tokens `3 1 4 1 5 9 | 1 1 3 4 5` (question, then all but the last answer token) and
is trained to predict each next answer token (`1 1 3 4 5 9`); the loss ignores the positions of the question.
Sequences are split into training and held-out sets by a fixed hash, so the test problems were never seen.

What it does, in order (read `main`):
  1. builds a GPT: token embeddings plus sinusoidal position encodings (`nn.sinusoidal_positional_encoding`),
     2 pre-norm transformer blocks (`nn.TransformerEncoderLayer`, 4 heads, d = 64, GPT-2's tanh GELU) run with the
     causal mask (`nn.Transformer.generate_square_subsequent_mask`), a final LayerNorm and a linear head;
  2. trains it with AdamW, a linear warm-up and a cosine decay of the learning rate (`nn.optim.lr_scheduler`);
  3. generates the answers of 1,000 held-out problems greedily (each token the most likely next one, fed back in)
     and reports the exact-match accuracy (target: at least 99%) and the time taken;
  4. prints a few generations and saves the loss curve and the attention maps of the last block's heads.
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

LENGTH, DIGITS = 6, 10           # sort 6 digits 0-9
BLOCK = 2 * LENGTH - 1           # question + answer, without the answer's last token
TARGET_ACCURACY = 0.99


# ---------------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------------
def is_held_out(problems: np.ndarray) -> np.ndarray:
    """Whether each problem (a row of digits) belongs to the held-out set: a fixed hash puts 1 in 4 there."""
    weights = np.array([7, 31, 127, 8191, 131071, 524287])[:problems.shape[1]]
    return (problems @ weights) % 4 == 0


def sample_problems(rng: np.random.Generator, count: int, held_out: bool) -> np.ndarray:
    """`count` random problems (count, LENGTH) from the training set, or from the held-out set."""
    found = np.empty((0, LENGTH), dtype=np.int64)
    while len(found) < count:
        candidates = rng.integers(0, DIGITS, (2 * count, LENGTH))
        found = np.concatenate([found, candidates[is_held_out(candidates) == held_out]])
    return found[:count]


def encode(problems: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (question, then the answer but its last token) and targets (the next token at every position,
    -100 where the model is still reading the question: cross_entropy ignores those)."""
    sequence = np.concatenate([problems, np.sort(problems, axis=1)], axis=1)
    inputs, targets = sequence[:, :-1], sequence[:, 1:].copy()
    targets[:, :LENGTH - 1] = -100
    return inputs, targets


# ---------------------------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------------------------
class GPT(nn.Module):
    """Token embedding + sinusoidal positions -> causal transformer blocks -> LayerNorm -> logits."""

    def __init__(self, vocab_size: int, block_size: int, d_model: int = 64, nhead: int = 4, num_layers: int = 2,
                 dim_feedforward: int = 256, dropout: float = 0.0) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        block = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout,
                                           activation=nn.GELU(approximate="tanh"), batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(block, num_layers)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)
        self.register_buffer("positions", nn.sinusoidal_positional_encoding(block_size, d_model), persistent=False)
        self.register_buffer("causal_mask", nn.Transformer.generate_square_subsequent_mask(block_size),
                             persistent=False)

    def embed(self, idx: autograd.Tensor) -> autograd.Tensor:
        return self.token_embedding(idx) + self.positions[:idx.shape[1]]

    def forward(self, idx: autograd.Tensor) -> autograd.Tensor:
        """idx (B, T) token ids -> logits (B, T, vocab)."""
        t = idx.shape[1]
        x = self.blocks(self.embed(idx), mask=self.causal_mask[:t, :t], is_causal=True)
        return self.head(self.norm(x))

    def attention_maps(self, idx: autograd.Tensor, layer: int) -> np.ndarray:
        """The attention weights of every head of block `layer` on one sequence: (heads, T, T)."""
        t = idx.shape[1]
        mask = self.causal_mask[:t, :t]
        with autograd.no_grad():
            x = self.embed(idx)
            for block in list(self.blocks.layers)[:layer]:
                x = block(x, src_mask=mask, is_causal=True)
            block = self.blocks.layers[layer]
            h = block.norm1(x)  # pre-norm: attention reads the normalised input
            _, weights = block.self_attn(h, h, h, attn_mask=mask, need_weights=True, average_attn_weights=False)
        return weights.data[0]


def generate(model: GPT, problems: np.ndarray) -> np.ndarray:
    """Greedy decoding: append the most likely next token LENGTH times, starting from the questions."""
    model.eval()
    sequence = problems
    with autograd.no_grad():
        for _ in range(LENGTH):
            logits = model(autograd.tensor(sequence))
            next_token = logits.data[:, -1].argmax(axis=1)
            sequence = np.concatenate([sequence, next_token[:, None]], axis=1)
    return sequence[:, LENGTH:]


def exact_match(model: GPT, problems: np.ndarray) -> float:
    """The fraction of problems whose whole generated answer is right."""
    return float(np.mean(np.all(generate(model, problems) == np.sort(problems, axis=1), axis=1)))


# ---------------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------------
def train(model: GPT, steps: int, batch_size: int, lr: float, warmup: int, seed: int,
          log_every: int = 250) -> dict[str, list[float]]:
    """AdamW on fresh batches of training problems; the learning rate rises linearly for `warmup` steps, then
    follows a cosine down to 0 at the last step."""
    rng = np.random.default_rng(seed)
    optimizer = nn.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    lr_scheduler = nn.optim.lr_scheduler
    warmup = max(1, min(warmup, steps - 1))
    schedule = lr_scheduler.SequentialLR(optimizer, [
        lr_scheduler.LinearLR(optimizer, start_factor=0.01, total_iters=warmup),
        lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps - warmup, 1))], milestones=[warmup])
    history: dict[str, list[float]] = {"loss": [], "lr": []}
    model.train()
    started = time.perf_counter()
    for step in range(1, steps + 1):
        inputs, targets = encode(sample_problems(rng, batch_size, held_out=False))
        logits = model(autograd.tensor(inputs))
        loss = F.cross_entropy(logits.reshape(-1, DIGITS), autograd.tensor(targets.reshape(-1)))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        history["lr"].append(optimizer.param_groups[0]["lr"])
        schedule.step()
        history["loss"].append(loss.item())
        if log_every and (step % log_every == 0 or step == steps):
            recent = np.mean(history["loss"][-log_every:])
            print(f"step {step:5d}/{steps}: loss {recent:.4f}, lr {history['lr'][-1]:.2e}, "
                  f"{time.perf_counter() - started:.1f} s", flush=True)
    return history


# ---------------------------------------------------------------------------------------------------------------
# Pictures
# ---------------------------------------------------------------------------------------------------------------
def plot_loss(history: dict[str, list[float]], out_dir: str) -> str:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return "loss curve: skipped (matplotlib is not installed)"
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    loss = np.asarray(history["loss"])
    window = max(1, len(loss) // 50)
    left.plot(np.arange(1, len(loss) + 1), loss, color="0.8", linewidth=0.7, label="per batch")
    left.plot(np.arange(window, len(loss) + 1), np.convolve(loss, np.ones(window) / window, "valid"),
              label=f"mean of {window}")
    left.set(xlabel="step", ylabel="cross-entropy (answer tokens)", yscale="log", title="Training loss")
    left.legend()
    right.plot(np.arange(1, len(loss) + 1), history["lr"], color="tab:orange")
    right.set(xlabel="step", ylabel="learning rate", title="Warm-up, then cosine decay")
    path = os.path.join(out_dir, "transformer_loss.png")
    fig.savefig(path, dpi=120)
    return f"loss curve: {path}"


def plot_attention(model: GPT, problem: np.ndarray, out_dir: str, layer: int) -> str:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return "attention maps: skipped (matplotlib is not installed)"
    answer = generate(model, problem[None])[0]
    tokens = np.concatenate([problem, answer])[:-1]
    weights = model.attention_maps(autograd.tensor(tokens[None]), layer)
    heads = weights.shape[0]
    fig = Figure(figsize=(3.2 * heads, 3.6), layout="constrained")
    labels = [str(t) for t in tokens]
    for h, ax in enumerate(fig.subplots(1, heads)):
        image = ax.imshow(weights[h], cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(len(tokens)), labels)
        ax.set_yticks(range(len(tokens)), labels)
        ax.axvline(LENGTH - 0.5, color="white", linewidth=0.8)
        ax.axhline(LENGTH - 1.5, color="white", linewidth=0.8)
        ax.set(title=f"block {layer + 1}, head {h + 1}", xlabel="attends to (key)", ylabel="" if h else "query")
    fig.colorbar(image, ax=ax, shrink=0.8)
    path = os.path.join(out_dir, "transformer_attention.png")
    fig.savefig(path, dpi=120)
    return f"attention maps: {path} (each row: where that position looks when it predicts the next token)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nn.examples.transformer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="examples_output", help="directory for the pictures")
    parser.add_argument("--steps", type=int, default=1500, help="training steps (default: 1500)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (default: 3e-3)")
    parser.add_argument("--warmup", type=int, default=100, help="warm-up steps (default: 100)")
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--test-size", type=int, default=1000, help="held-out problems to generate")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    autograd.manual_seed(args.seed)
    started = time.perf_counter()

    model = GPT(DIGITS, BLOCK, d_model=args.d_model, dim_feedforward=4 * args.d_model)
    print(f"GPT: {model.num_parameters()} parameters, {len(model.blocks.layers)} blocks, d_model {args.d_model}, "
          f"4 heads; task: sort {LENGTH} digits")
    history = train(model, args.steps, args.batch_size, args.lr, args.warmup, args.seed,
                    log_every=max(1, args.steps // 6))
    train_seconds = time.perf_counter() - started

    test = sample_problems(np.random.default_rng(args.seed + 1), args.test_size, held_out=True)
    t0 = time.perf_counter()
    accuracy = exact_match(model, test)
    generate_seconds = time.perf_counter() - t0
    print()
    for problem, answer in zip(test[:5], generate(model, test[:5])):
        verdict = "right" if np.array_equal(answer, np.sort(problem)) else "WRONG"
        print(f"  {' '.join(map(str, problem))}  ->  {' '.join(map(str, answer))}   ({verdict})")
    print(f"exact match on {len(test)} held-out problems: {100 * accuracy:.1f}% "
          f"({'at least' if accuracy >= TARGET_ACCURACY else 'BELOW'} {100 * TARGET_ACCURACY:.0f}%)")
    print(f"time: {train_seconds:.1f} s training ({args.steps} steps, {1000 * train_seconds / args.steps:.0f} ms "
          f"each), {generate_seconds:.1f} s generating")
    print(plot_loss(history, args.out))
    print(plot_attention(model, test[0], args.out, layer=len(model.blocks.layers) - 1))
    return 0 if accuracy >= TARGET_ACCURACY else 1


if __name__ == "__main__":
    sys.exit(main())
