"""Training helpers: gradient clipping, parameters as one vector, L1/L2 penalties, early stopping.

    >>> loss = loss_fn(model(x), y) + 1e-4 * nn.utils.l2_penalty(model.parameters())
    >>> loss.backward()
    >>> nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)   # tame exploding gradients
    >>> opt.step()
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

import autograd
from autograd import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters",
           "l1_penalty", "l2_penalty", "EarlyStopping"]


def _tensor_list(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Rescale the gradients in place so that their total norm is at most `max_norm`; return the total norm
    before clipping (as PyTorch).

        total = ‖(‖g₁‖, ‖g₂‖, ...)‖ₚ      (the p-norm of all gradients as one vector; p = inf for the max)
        g ← g · min(1, max_norm / (total + 1e-6))

    The direction of the update is kept, only its length is capped. Parameters without a gradient are skipped.

        >>> total = nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    """
    params = _tensor_list(parameters)
    grads = [p.grad.data for p in params if p.grad is not None]  # .data: the arrays themselves
    if not grads:
        return autograd.tensor(0.0)
    norm_type = float(norm_type)
    if norm_type == math.inf:
        norms = [np.max(np.abs(g)) if g.size else 0.0 for g in grads]
        total = float(np.max(norms))
    else:
        norms = [np.linalg.norm(g.ravel().astype(np.float64, copy=False), ord=norm_type) for g in grads]
        total = float(np.linalg.norm(np.array(norms), ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}, "
                           "so they cannot be clipped. Look for the NaN/inf (autograd.detect_anomaly() names the "
                           "operation), or pass error_if_nonfinite=False to scale by it anyway")
    coef = min(max_norm / (total + 1e-6), 1.0)
    for g in grads:
        g *= coef
    return autograd.tensor(total, dtype=grads[0].dtype)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient entry to [-clip_value, clip_value], in place.

        >>> nn.utils.clip_grad_value_(model.parameters(), clip_value=0.5)
    """
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for p in _tensor_list(parameters):
        if p.grad is not None:
            g = p.grad.data
            np.clip(g, -clip_value, clip_value, out=g)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated into one vector (differentiable, as in PyTorch).

        >>> theta = nn.utils.parameters_to_vector(model.parameters())
        >>> theta.shape          # (number of weights,)
    """
    params = _tensor_list(parameters)
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"parameters_to_vector: expected tensors, item {i} is {type(p).__name__}")
    if not params:
        return autograd.zeros(0)
    return autograd.cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of the 1-D `vec` into the parameters (in place, outside the graph): the inverse
    of `parameters_to_vector`.

        >>> nn.utils.vector_to_parameters(theta, model.parameters())
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: expected a Tensor, got {type(vec).__name__}")
    if vec.ndim != 1:
        raise ValueError(f"vector_to_parameters: expected a 1-D vector, got shape {vec.shape}")
    params = _tensor_list(parameters)
    total = sum(p.numel() for p in params)
    if total != vec.shape[0]:
        raise ValueError(f"vector_to_parameters: the vector has {vec.shape[0]} entries but the parameters have "
                         f"{total} in all")
    values = np.asarray(vec)
    offset = 0
    with autograd.no_grad():
        for p in params:
            n = p.numel()
            p.copy_(values[offset:offset + n].reshape(p.shape))
            offset += n


def l1_penalty(parameters: Tensor | Iterable[Tensor]) -> Tensor:
    """Σ|w| over all given tensors: add `lam * l1_penalty(...)` to the loss for L1 regularisation (lasso),
    which drives weights to exactly zero (its gradient is lam·sign(w)).

        >>> weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
        >>> loss = loss_fn(model(x), y) + 1e-4 * nn.utils.l1_penalty(weights)
    """
    terms = [p.abs().sum() for p in _tensor_list(parameters)]
    return _add_all(terms)


def l2_penalty(parameters: Tensor | Iterable[Tensor]) -> Tensor:
    """Σw² over all given tensors: add `lam * l2_penalty(...)` to the loss for L2 regularisation (ridge).

    Its gradient is 2·lam·w, so with plain SGD it equals `weight_decay = 2 * lam` (the optimisers'
    `weight_decay` adds λw to the gradient, the gradient of (λ/2)·Σw²). With Adam the two differ; AdamW's
    decoupled decay is different again.

        >>> loss = loss_fn(model(x), y) + 1e-4 * nn.utils.l2_penalty(model.parameters())
    """
    terms = [(p * p).sum() for p in _tensor_list(parameters)]
    return _add_all(terms)


def _add_all(terms: list[Tensor]) -> Tensor:
    if not terms:
        return autograd.tensor(0.0)
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


class EarlyStopping:
    """Stop training when a validation metric has not improved for `patience` epochs, and keep the best
    weights.

    Call `step(metric, model)` once per epoch; it returns True when training should stop. An improvement
    must beat the best value by more than `min_delta` (`mode='min'` for losses, `'max'` for accuracies).
    With `restore_best_weights` (default) the model's weights are reset to those of the best epoch when it
    says stop; `restore(model)` does it by hand (e.g. when the epochs ran out first).

        >>> stopper = nn.utils.EarlyStopping(patience=5, min_delta=1e-4)
        >>> for epoch in range(100):
        ...     train_one_epoch()
        ...     if stopper.step(validation_loss(), model):
        ...         break                        # the model now holds the weights of stopper.best_epoch
    """

    def __init__(self, patience: int = 5, min_delta: float = 0.0, mode: str = "min",
                 restore_best_weights: bool = True) -> None:
        if int(patience) != patience or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be a non-negative integer, got {patience!r}")
        if min_delta < 0:
            raise ValueError(f"EarlyStopping: min_delta must be >= 0, got {min_delta}")
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min' or 'max', got {mode!r}")
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.mode = mode
        self.restore_best_weights = restore_best_weights
        self.best: float = math.inf if mode == "min" else -math.inf
        self.best_epoch: int | None = None
        self.best_state: dict[str, Any] | None = None
        self.epoch = 0
        self.num_bad_epochs = 0
        self.should_stop = False

    def _improved(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def step(self, metric: Any, model: Any = None) -> bool:
        """Record this epoch's metric (a number or 0-d tensor); True when training should stop."""
        value = float(metric)
        if self._improved(value):
            self.best = value
            self.best_epoch = self.epoch
            self.num_bad_epochs = 0
            if model is not None:
                self.best_state = {k: _snapshot(v) for k, v in model.state_dict().items()}
        else:
            self.num_bad_epochs += 1
        self.epoch += 1
        self.should_stop = self.num_bad_epochs >= self.patience
        if self.should_stop and self.restore_best_weights and model is not None:
            self.restore(model)
        return self.should_stop

    __call__ = step

    def restore(self, model: Any) -> None:
        """Load the weights of the best epoch into `model`."""
        if self.best_state is None:
            raise RuntimeError("EarlyStopping.restore: no weights were recorded; pass the model to step(metric, "
                               "model) so that the best epoch's weights can be kept")
        model.load_state_dict({k: _snapshot(v) for k, v in self.best_state.items()})

    def __repr__(self) -> str:
        return (f"EarlyStopping(patience={self.patience}, min_delta={self.min_delta}, mode={self.mode!r}, "
                f"best={self.best:.6g}, best_epoch={self.best_epoch}, bad_epochs={self.num_bad_epochs})")


def _snapshot(value: Any) -> Any:
    if isinstance(value, Tensor):
        return autograd.from_numpy(np.array(value))
    if isinstance(value, np.ndarray):
        return value.copy()
    return value
