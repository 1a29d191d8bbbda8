r"""The update rules: SGD (momentum, Nesterov), Adam/AdamW (AMSGrad), Adagrad, RMSprop, Adadelta, Rprop.

Each class is its constructor (options and their checks) and one `_update` that applies PyTorch's rule to one
parameter, in place, on numpy arrays. Defaults, option names, the order of operations and the state kept per
parameter are PyTorch's (single-tensor, `foreach=False` code path), so a trajectory matches PyTorch's to float
rounding and a PyTorch snippet runs unchanged after swapping the import.

Notation in the docstrings: θ parameter, g gradient, γ learning rate, λ weight decay, t step count (from 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .optimizer import Optimizer, ParamsT, buffer

__all__ = ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta", "Rprop"]


def _weight_decay(grad: np.ndarray, param: np.ndarray, weight_decay: float) -> np.ndarray:
    """The gradient of the loss plus that of the L2 penalty (λ/2)·‖θ‖², i.e. g + λθ (a new array)."""
    return grad + weight_decay * param if weight_decay != 0 else grad


_BLOCK = 32768  # elements (128 KiB of float32): the scaled block stays in the L1/L2 cache between its two passes


def _subtract_scaled(param: np.ndarray, grad: np.ndarray, lr: float) -> None:
    """param -= lr * grad, in place, with the same roundings. numpy has no fused a*x+y, so `lr * grad` is a
    temporary as large as the parameter, written out to memory and read back (6.4 MB of traffic for a 1.6 MB
    weight, beyond the cache). Done block by block, the temporary is one small buffer that stays in the cache:
    a W2 step (MLP 784-512-256-10, batch 128) goes from 452k to 389k L2 misses (callgrind, 512 KiB L2; the
    numpy floor, which writes the temporary, has 416k), and slightly fewer instructions.
    Small or non-contiguous arrays, mixed dtypes and a learning rate that is not a Python number (a numpy float64
    would make the product float64) take the plain expression."""
    n = param.size
    if (n <= 2 * _BLOCK or lr.__class__ is not float or grad.dtype != param.dtype
            or not (param.flags.c_contiguous and grad.flags.c_contiguous)):
        param -= lr * grad
        return
    p, g = param.reshape(-1), grad.reshape(-1)
    scaled = np.empty(_BLOCK, param.dtype)
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        block = p[start:stop]
        np.subtract(block, np.multiply(g[start:stop], lr, out=scaled[:stop - start]), out=block)


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with momentum (heavy ball or Nesterov) and weight decay.

        g ← g + λθ
        b ← g                              on the first step
        b ← μ·b + (1 − dampening)·g        afterwards
        g ← g + μ·b  (nesterov)   or   g ← b
        θ ← θ − γ·g

    With `momentum=0` this is plain (mini-batch) gradient descent: full-batch, stochastic or mini-batch only
    differs in how many samples the gradient was averaged over.

        >>> opt = nn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
        >>> opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize})

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        if group["momentum"] < 0:
            raise ValueError(f"SGD: invalid momentum={group['momentum']} (must be >= 0)")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum > 0 and zero dampening "
                             f"(got momentum={group['momentum']}, dampening={group['dampening']})")

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        grad = _weight_decay(grad, param, group["weight_decay"])
        momentum = group["momentum"]
        if momentum != 0:
            if "momentum_buffer" not in state:
                buf = buffer(state, "momentum_buffer", param)
                buf[...] = grad  # the first step starts the velocity at g (no dampening)
            else:
                buf = state["momentum_buffer"].data
                buf *= momentum
                buf += (1 - group["dampening"]) * grad
            grad = grad + momentum * buf if group["nesterov"] else buf
        _subtract_scaled(param, grad, group["lr"])


class Adam(Optimizer):
    r"""Adam: per-coordinate steps from bias-corrected moving averages of the gradient and its square.

        g ← g + λθ                         (θ ← θ(1 − γλ) instead, with decoupled_weight_decay: AdamW)
        m ← β₁m + (1 − β₁)g                v ← β₂v + (1 − β₂)g²
        v̂ ← max(v̂, v) with amsgrad, else v
        θ ← θ − γ/(1 − β₁ᵗ) · m / (√v̂ / √(1 − β₂ᵗ) + ε)

        >>> opt = nn.optim.Adam(model.parameters(), lr=1e-3)
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False) -> None:
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                  "amsgrad": amsgrad, "maximize": maximize,
                                  "decoupled_weight_decay": decoupled_weight_decay})

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        name = type(self).__name__
        group["betas"] = tuple(group["betas"])
        if len(group["betas"]) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {group['betas']}")
        for i, beta in enumerate(group["betas"]):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name}: invalid beta parameter at index {i}: {beta} (must be in [0, 1))")
        if group["eps"] < 0:
            raise ValueError(f"{name}: invalid eps={group['eps']} (must be >= 0)")

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        step = state["step"] = state.get("step", 0) + 1
        m = buffer(state, "exp_avg", param)
        v = buffer(state, "exp_avg_sq", param)
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                param *= 1 - lr * weight_decay  # AdamW: shrink the weights, outside the adaptive scaling
            else:
                grad = grad + weight_decay * param
        # The expressions m += (1 − β₁)(g − m); v += (1 − β₂)·g·g; θ −= (γ/(1 − β₁ᵗ))·m / (√v / √(1 − β₂ᵗ) + ε),
        # evaluated in this order (PyTorch's, m's update as its lerp) with the same roundings, in two scratch
        # arrays instead of a temporary per operation (nine passes' allocations per parameter and step)
        t = np.subtract(grad, m)
        same = isinstance(t, np.ndarray) and t.dtype == m.dtype == v.dtype == param.dtype  # (0-d: a scalar)
        t *= 1 - beta1
        m += t
        v *= beta2
        if same:
            np.multiply(grad, 1 - beta2, out=t)
            t *= grad
            v += t
        else:  # (a gradient of another dtype than the parameter's: the scratch arrays would not hold it)
            v += (1 - beta2) * grad * grad
        if group["amsgrad"]:
            v_max = buffer(state, "max_exp_avg_sq", param)
            np.maximum(v_max, v, out=v_max)
            v = v_max
        step_size = lr / (1 - beta1 ** step)
        denom = np.sqrt(v)
        denom /= (1 - beta2 ** step) ** 0.5
        denom += eps
        if same:
            np.multiply(m, step_size, out=t)
            t /= denom
            param -= t
        else:
            param -= step_size * m / denom


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter): θ ← θ(1 − γλ) before the Adam step.

    The decay does not pass through the adaptive scaling, so every weight shrinks at the same rate. Default
    `weight_decay=1e-2`, as in PyTorch.

        >>> opt = nn.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)


class Adagrad(Optimizer):
    r"""Adagrad: each coordinate's step shrinks with the sum of its squared gradients so far.

        g ← g + λθ
        s ← s + g²                         (s starts at initial_accumulator_value)
        θ ← θ − γ/(1 + (t − 1)·lr_decay) · g / (√s + ε)

        >>> opt = nn.optim.Adagrad(model.parameters(), lr=1e-2)
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, *, maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value, "maximize": maximize})
        # PyTorch creates Adagrad's state up front (the only rule that does), so state_dict() has it at once.
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(self.state[p], p.data, group)

    @staticmethod
    def _init_state(state: dict[str, Any], param: np.ndarray, group: dict[str, Any]) -> None:
        state.setdefault("step", 0)
        buffer(state, "sum", param, group["initial_accumulator_value"])

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        for key in ("lr_decay", "initial_accumulator_value", "eps"):
            if group[key] < 0:
                raise ValueError(f"Adagrad: invalid {key}={group[key]} (must be >= 0)")

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        self._init_state(state, param, group)  # for groups added after construction
        step = state["step"] = state["step"] + 1
        grad = _weight_decay(grad, param, group["weight_decay"])
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        total = state["sum"].data
        total += grad * grad
        param -= clr * grad / (np.sqrt(total) + group["eps"])


class RMSprop(Optimizer):
    r"""RMSprop: divide the gradient by a moving root-mean-square of recent gradients.

        g ← g + λθ
        v ← αv + (1 − α)g²
        ḡ ← αḡ + (1 − α)g,  d ← √(v − ḡ²) + ε    (centered: subtract the squared mean gradient)
                             d ← √v + ε          (otherwise)
        b ← μb + g/d,  θ ← θ − γb                (momentum μ > 0)
        θ ← θ − γ·g/d                            (otherwise)

        >>> opt = nn.optim.RMSprop(model.parameters(), lr=1e-2, alpha=0.99)
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps,
                                  "centered": centered, "weight_decay": weight_decay, "maximize": maximize})

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        for key in ("alpha", "eps", "momentum"):
            if group[key] < 0:
                raise ValueError(f"RMSprop: invalid {key}={group[key]} (must be >= 0)")

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        alpha, momentum, eps = group["alpha"], group["momentum"], group["eps"]
        state["step"] = state.get("step", 0) + 1
        square_avg = buffer(state, "square_avg", param)
        buf = buffer(state, "momentum_buffer", param) if momentum > 0 else None
        grad_avg = buffer(state, "grad_avg", param) if group["centered"] else None
        grad = _weight_decay(grad, param, group["weight_decay"])
        square_avg *= alpha
        square_avg += (1 - alpha) * grad * grad
        if grad_avg is not None:
            grad_avg += (1 - alpha) * (grad - grad_avg)
            avg = np.sqrt(square_avg - grad_avg * grad_avg)
        else:
            avg = np.sqrt(square_avg)
        avg += eps
        if buf is not None:
            buf *= momentum
            buf += grad / avg
            param -= group["lr"] * buf
        else:
            param -= group["lr"] * grad / avg


class Adadelta(Optimizer):
    r"""Adadelta: steps scaled by the ratio of the RMS of past updates to the RMS of past gradients.

        g ← g + λθ
        v ← ρv + (1 − ρ)g²
        Δ ← √(u + ε) / √(v + ε) · g
        u ← ρu + (1 − ρ)Δ²
        θ ← θ − γΔ                         (γ = 1 by default: the ratio sets the units)

        >>> opt = nn.optim.Adadelta(model.parameters())
    """

    def __init__(self, params: ParamsT, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, *, maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
                                  "maximize": maximize})

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        if not 0.0 <= group["rho"] <= 1.0:
            raise ValueError(f"Adadelta: invalid rho={group['rho']} (must be in [0, 1])")
        if group["eps"] < 0:
            raise ValueError(f"Adadelta: invalid eps={group['eps']} (must be >= 0)")

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        rho, eps = group["rho"], group["eps"]
        state["step"] = state.get("step", 0) + 1
        square_avg = buffer(state, "square_avg", param)
        acc_delta = buffer(state, "acc_delta", param)
        grad = _weight_decay(grad, param, group["weight_decay"])
        square_avg *= rho
        square_avg += (1 - rho) * grad * grad
        delta = np.sqrt(acc_delta + eps) / np.sqrt(square_avg + eps) * grad
        acc_delta *= rho
        acc_delta += (1 - rho) * delta * delta
        param -= group["lr"] * delta


class Rprop(Optimizer):
    r"""Resilient backpropagation: only the sign of the gradient is used; each coordinate has its own step.

        s ← s·η₊ if g·g_prev > 0,  s·η₋ if g·g_prev < 0,  s otherwise;  then s ← clip(s, step_min, step_max)
        g ← 0 where g·g_prev < 0           (after a sign change, pause one step)
        θ ← θ − sign(g)·s,   g_prev ← g

    Each step size starts at `lr`. Meant for full-batch training: mini-batch noise flips the signs.

        >>> opt = nn.optim.Rprop(model.parameters(), lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50))
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), *, maximize: bool = False) -> None:
        super().__init__(params, {"lr": lr, "etas": tuple(etas), "step_sizes": tuple(step_sizes),
                                  "maximize": maximize})

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        group["etas"], group["step_sizes"] = tuple(group["etas"]), tuple(group["step_sizes"])
        etaminus, etaplus = group["etas"]
        if not 0.0 < etaminus < 1.0 < etaplus:
            raise ValueError(f"Rprop: invalid eta values {group['etas']} (need 0 < eta_minus < 1 < eta_plus)")

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        etaminus, etaplus = group["etas"]
        step_min, step_max = group["step_sizes"]
        state["step"] = state.get("step", 0) + 1
        prev = buffer(state, "prev", param)
        step_size = buffer(state, "step_size", param, group["lr"])
        sign = np.sign(grad * prev)
        step_size *= np.where(sign > 0, etaplus, np.where(sign < 0, etaminus, 1.0)).astype(param.dtype)
        np.clip(step_size, step_min, step_max, out=step_size)
        grad = np.where(sign < 0, 0, grad).astype(param.dtype)
        param -= np.sign(grad) * step_size
        prev[...] = grad
