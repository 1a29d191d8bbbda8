"""`fit` and `evaluate`: an optional training loop for learners, with a progress bar and a history to plot.

`fit` runs exactly the loop you would write by hand, nothing more:

    for epoch in range(epochs):
        model.train()
        for x, y in train_loader:               # one iteration per batch
            optimizer.zero_grad()               # forget the previous batch's gradients
            loss = loss_fn(model(x), y)         # forward
            loss.backward()                     # backward: d loss / d parameter into each .grad
            optimizer.step()                    # update the parameters
        evaluate(model, val_loader, loss_fn)    # model.eval(), no_grad(): measure, don't learn

plus the bookkeeping: running averages of the loss and metrics, a tqdm progress bar, one learning-rate
scheduler step per epoch (or per batch), optional gradient clipping and early stopping, and a `history`
dict of per-epoch lists for plotting. Write the loop yourself when you want to change any of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

import autograd
from autograd import Tensor

from .optim.lr_scheduler import ReduceLROnPlateau
from .utils import EarlyStopping, clip_grad_norm_

__all__ = ["fit", "evaluate", "accuracy"]

Metric = Callable[[Tensor, Tensor], Any]


def accuracy(output: Tensor, target: Tensor, threshold: float = 0.0) -> float:
    """The fraction of correct predictions in a batch.

    With one score per class, output (N, C): the predicted class is the argmax. With a single score per sample,
    output (N,) or (N, 1): predicted 1 where the score is above `threshold` (0 for logits, as with
    `BCEWithLogitsLoss`; pass 0.5 for probabilities from a sigmoid).

        >>> accuracy(autograd.tensor([[2.0, 1.0], [0.0, 3.0]]), autograd.tensor([0, 0]))
        0.5
    """
    out = np.asarray(output)
    tgt = np.asarray(target)
    if out.ndim >= 2 and out.shape[1] > 1:
        predicted = out.argmax(axis=1)
    else:
        predicted = (out.reshape(len(out), -1)[:, 0] > threshold).astype(np.int64)
        tgt = tgt.reshape(len(tgt), -1)[:, 0]
    if predicted.shape != tgt.shape:
        raise ValueError(f"accuracy: {predicted.shape[0] if predicted.ndim else 1} predictions of shape "
                         f"{predicted.shape} do not match targets of shape {tgt.shape}")
    return float((predicted == tgt).mean())


def _as_float(value: Any) -> float:
    return float(value.item()) if isinstance(value, Tensor) else float(value)


def _split_batch(batch: Any) -> tuple[Any, Any]:
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    raise ValueError("fit/evaluate: each batch must be an (inputs, targets) pair, as a TensorDataset(X, y) "
                     f"gives; got {type(batch).__name__}"
                     + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else ""))


class _Averages:
    """Sample-weighted running means (a last, smaller batch counts for less)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.count = 0

    def add(self, n: int, values: Mapping[str, float]) -> None:
        self.count += n
        for name, value in values.items():
            self.totals[name] = self.totals.get(name, 0.0) + n * value

    def means(self, prefix: str = "") -> dict[str, float]:
        return {prefix + name: total / max(self.count, 1) for name, total in self.totals.items()}


def evaluate(model: Any, loader: Iterable, loss_fn: Callable | None = None,
             metrics: Mapping[str, Metric] | None = None) -> dict[str, float]:
    """Average loss and metrics of `model` over `loader`, in eval mode and without recording a graph.

    Returns e.g. `{"loss": 0.08, "acc": 0.975}` (averages over samples). The model's train/eval mode is
    restored afterwards.

        >>> evaluate(model, test_loader, nn.CrossEntropyLoss(), {"acc": nn.training.accuracy})
    """
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    averages = _Averages()
    try:
        with autograd.no_grad():
            for batch in loader:
                x, y = _split_batch(batch)
                output = model(x)
                values = {} if loss_fn is None else {"loss": _as_float(loss_fn(output, y))}
                values.update({name: _as_float(fn(output, y)) for name, fn in (metrics or {}).items()})
                averages.add(len(y), values)
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    return averages.means()


def fit(model: Any, loss_fn: Callable, optimizer: Any, train_loader: Iterable, epochs: int = 1, *,
        val_loader: Iterable | None = None, metrics: Mapping[str, Metric] | None = None,
        scheduler: Any = None, scheduler_interval: str = "epoch", clip_grad_norm: float | None = None,
        early_stopping: EarlyStopping | None = None, monitor: str | None = None,
        progress: bool = True) -> dict[str, list[float]]:
    """Train `model` for `epochs` passes over `train_loader`; return the history of per-epoch averages.

    The loop is the one in this module's docstring. Each batch must be an `(inputs, targets)` pair.

    metrics             `{name: fn(output, target)}`, averaged per epoch on the training batches (as the model
                        saw them, in train mode) and, with `val_loader`, on the validation set as `val_<name>`
    scheduler           an lr scheduler, stepped after every epoch (`scheduler_interval="batch"`: after every
                        batch, e.g. for CyclicLR); `ReduceLROnPlateau` receives the monitored value
    clip_grad_norm      if set, `nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)` before each step
    early_stopping      an `nn.utils.EarlyStopping`, given the monitored value and the model after every epoch;
                        training stops when it says so (with the best weights restored, by default)
    monitor             the history key early stopping and ReduceLROnPlateau watch (default "val_loss" when
                        there is a validation set, else "loss")
    progress            a tqdm progress bar per epoch (a printed line per epoch if tqdm is not installed)

    Returns `{"loss": [...], "<metric>": [...], "val_loss": [...], "val_<metric>": [...], "lr": [...]}`, one
    entry per epoch run; plot it with `plt.plot(history["loss"])`.

        >>> history = nn.fit(model, nn.CrossEntropyLoss(), opt, train_loader, epochs=10,
        ...                  val_loader=val_loader, metrics={"acc": nn.training.accuracy})
    """
    if scheduler_interval not in ("epoch", "batch"):
        raise ValueError(f"fit: scheduler_interval must be 'epoch' or 'batch', got {scheduler_interval!r}")
    if int(epochs) != epochs or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative integer, got {epochs!r}")
    metrics = dict(metrics or {})
    monitor = monitor or ("val_loss" if val_loader is not None else "loss")
    plateau = isinstance(scheduler, ReduceLROnPlateau)
    if plateau and scheduler_interval == "batch":
        raise ValueError("fit: ReduceLROnPlateau needs a metric, so it can only be stepped once per epoch")
    bar_factory = _progress_bar_factory() if progress else None
    params = list(model.parameters()) if clip_grad_norm is not None else None
    history: dict[str, list[float]] = {}
    for epoch in range(int(epochs)):
        model.train()
        averages = _Averages()
        bar = None
        if bar_factory is not None:  # updated by hand, so that it stays open for the validation results
            bar = bar_factory(total=_length(train_loader), desc=f"epoch {epoch + 1}/{epochs}", leave=True)
        for batch in train_loader:
            x, y = _split_batch(batch)
            # --- one training step: exactly what a hand-written loop does ---
            optimizer.zero_grad()
            output = model(x)
            loss = loss_fn(output, y)
            loss.backward()
            if params is not None:
                clip_grad_norm_(params, clip_grad_norm)
            optimizer.step()
            # --- bookkeeping ---
            if scheduler is not None and scheduler_interval == "batch":
                scheduler.step()
            values = {"loss": _as_float(loss)}
            values.update({name: _as_float(fn(output.detach(), y)) for name, fn in metrics.items()})
            averages.add(len(y), values)
            if bar is not None:
                bar.set_postfix(_short(averages.means()), refresh=False)
                bar.update()
        row = averages.means()
        if val_loader is not None:
            row.update({"val_" + k: v for k, v in evaluate(model, val_loader, loss_fn, metrics).items()})
        row["lr"] = float(optimizer.param_groups[0]["lr"])
        for key, value in row.items():
            history.setdefault(key, []).append(value)
        if bar is not None:
            bar.set_postfix(_short(row), refresh=True)
            bar.close()
        elif progress:
            print(f"epoch {epoch + 1}/{epochs}: " + ", ".join(f"{k}={v:.4g}" for k, v in row.items()))
        if (plateau or early_stopping is not None) and monitor not in row:
            raise KeyError(f"fit: cannot monitor {monitor!r}: the history has {sorted(row)}")
        if scheduler is not None and scheduler_interval == "epoch":
            scheduler.step(row[monitor]) if plateau else scheduler.step()
        if early_stopping is not None and early_stopping.step(row[monitor], model):
            if progress:
                print(f"early stopping after epoch {epoch + 1}: {monitor} has not improved for "
                      f"{early_stopping.patience} epochs (best {early_stopping.best:.4g} at epoch "
                      f"{(early_stopping.best_epoch or 0) + 1})")
            break
    return history


def _length(loader: Iterable) -> int | None:
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:  # a generator: the bar counts without a total
        return None


def _short(values: Mapping[str, float]) -> dict[str, str]:
    return {k: f"{v:.4g}" for k, v in values.items() if k != "lr"}


def _progress_bar_factory() -> Callable | None:
    try:
        from tqdm import tqdm  # the text bar: it works in terminals and notebooks alike (no ipywidgets needed)
    except ImportError:  # tqdm is optional: fall back to one printed line per epoch
        return None
    return tqdm
