"""Helpers shared by the nn tests: gradchecking a module's outputs with respect to its inputs and parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import autograd
from autograd import Tensor


def call_with_parameters(module: Any, params: dict[str, Tensor], *args: Any) -> Any:
    """Run `module(*args)` with its parameters temporarily replaced by `params` (name -> tensor), so that
    gradcheck can perturb its own float64 copies of them."""
    saved = []
    for name, value in params.items():
        owner_path, _, attr = name.rpartition(".")
        owner = module.get_submodule(owner_path)
        saved.append((owner, attr, owner.__dict__[attr]))
        owner.__dict__[attr] = value  # forward reads parameters as plain attributes
    try:
        return module(*args)
    finally:
        for owner, attr, value in saved:
            owner.__dict__[attr] = value


def check_module(module: Any, *inputs: Any, second_order: bool = False, output: Callable | None = None,
                 atol: float = 1e-5, rtol: float = 1e-3) -> None:
    """gradcheck (and optionally gradgradcheck) `module` in float64 with respect to its floating inputs
    that require grad and all its parameters."""
    module.double()
    names = [n for n, p in module.named_parameters() if p.requires_grad]
    params = [module.get_parameter(n) for n in names]
    n_in = len(inputs)
    select = output or (lambda out: out)

    def fn(*args: Any) -> Any:
        values = dict(zip(names, args[n_in:]))
        return select(call_with_parameters(module, values, *args[:n_in]))

    args = (*inputs, *[autograd.tensor(np.array(p.data, dtype=np.float64), requires_grad=True) for p in params])
    assert autograd.gradcheck(fn, args, atol=atol, rtol=rtol)
    if second_order:
        assert autograd.gradgradcheck(fn, args, atol=atol, rtol=rtol)


def randn(*shape: int, seed: int = 0, requires_grad: bool = True, scale: float = 1.0) -> Tensor:
    rng = np.random.default_rng(seed)
    return autograd.tensor(rng.standard_normal(shape) * scale, dtype=np.float64, requires_grad=requires_grad)
