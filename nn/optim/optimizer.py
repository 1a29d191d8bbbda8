"""`Optimizer`: the base class that owns parameter groups, per-parameter state and checkpoints.

An optimiser turns gradients into parameter updates. Every rule in this package has the same skeleton, so it
lives here once: for each parameter group, for each parameter that has a gradient, read the parameter and its
gradient as numpy arrays, let the rule update the parameter array *in place*, and remember the write (so a
backward pass that still needs the old values fails loudly instead of silently using the new ones). The rules
themselves, one `_update` method each with its maths in the docstring, are in `optimizers.py`.

Nothing here is recorded by autograd: the updates are plain numpy on the arrays behind the tensors, run under
`no_grad()`, exactly as PyTorch's `step()` runs under `torch.no_grad()`.
"""

from __future__ import annotations

import copy
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from autograd import Tensor, enable_grad, from_numpy, no_grad
from autograd.graph import increment_version

__all__ = ["Optimizer", "ParamsT", "buffer"]

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, Tensor]]


class Optimizer:
    """Base class of all optimisers: parameter groups, state, `zero_grad`, `step`, checkpoints.

    `params` is an iterable of tensors, of `(name, tensor)` pairs (`model.named_parameters()`), or of dicts
    (parameter groups), each with a `'params'` entry and any options that override `defaults` for that group:

        >>> opt = SGD([{"params": model.body.parameters()},
        ...            {"params": model.head.parameters(), "lr": 1e-2}], lr=1e-3, momentum=0.9)

    Subclasses define `_update(param, grad, state, group)`, which changes the `param` array in place.
    `self.state[p]` is a dict per parameter (moment estimates, step counts...), created lazily.
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._step_count = 0  # how many times step() ran (the lr schedulers check the calling order with it)
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params must be an iterable of tensors or of dicts (parameter groups), "
                            f"not a single tensor; wrap it in a list: {name}([t], ...)")
        if isinstance(params, set):
            raise TypeError(f"{name}: parameters must be given in an ordered collection (a list), not a set: "
                            "the order of a set changes between runs, and so would the saved state's layout")
        groups = list(params)
        if not groups:
            raise ValueError(f"{name}: got an empty parameter list (did the model register its parameters? "
                             "model.parameters() is empty if layers were kept in a plain list instead of "
                             "nn.ModuleList)")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # --- parameter groups -------------------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (unspecified options take the defaults).

        Useful to unfreeze layers during fine-tuning: `opt.add_param_group({"params": layer.parameters()})`.
        """
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}.add_param_group: expected a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if params is None:
            raise ValueError(f"{name}.add_param_group: the group has no 'params' entry")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(f"{name}: parameters must be given in an ordered collection (a list), not a set: "
                            "the order of a set changes between runs, and so would the saved state's layout")
        params = list(params)
        names = None
        if params and isinstance(params[0], tuple):  # named_parameters()
            names = [n for n, _ in params]
            params = [p for _, p in params]
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize tensors, but parameter {i} of the group is "
                                f"{type(p).__name__}")
            if p.grad_fn is not None:
                raise ValueError(f"{name}: can't optimize a non-leaf tensor (parameter {i}, shape {p.shape}, "
                                 f"computed by {p.grad_fn.name()}); optimize the leaf it was computed from")
            if p.dtype.kind not in "fc":
                raise TypeError(f"{name}: parameter {i} has dtype {p.dtype}; only floating-point tensors can be "
                                "optimized")
        group["params"] = params
        if names is not None:
            group["param_names"] = names
        for key, default in self.defaults.items():
            group.setdefault(key, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: a parameter appears more than once in the same group")
        if any(id(p) in seen for p in params):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Validate a group's options (subclasses add their own checks)."""
        lr = group.get("lr", 0)
        if lr < 0:
            raise ValueError(f"{type(self).__name__}: invalid learning rate lr={lr} (must be >= 0)")
        if group.get("weight_decay", 0) < 0:
            raise ValueError(f"{type(self).__name__}: invalid weight_decay={group['weight_decay']} (must be >= 0)")

    # --- the step -----------------------------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized tensors (to None by default, as PyTorch does).

        None is cheaper than zeros and lets `step()` skip parameters that took no part in the last backward.
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.grad_fn is not None:
                        p.grad = p.grad.detach()
                    p.grad.data[...] = 0

    @no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient, in place. Returns `closure()`'s loss if given.

        `closure` re-evaluates the model and returns the loss (it runs with gradients enabled); most rules
        don't need it. Parameters whose `.grad` is None are skipped.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        writer = f"{type(self).__name__}.step"
        for group_index, group in enumerate(self.param_groups):
            maximize = group.get("maximize", False)
            for index, p in enumerate(group["params"]):
                if p.grad is None:
                    continue
                param = p.data  # the array itself (a 0-d tensor's scalar becomes a writable 0-d array)
                grad = p.grad.data
                if grad.shape != param.shape:
                    raise ValueError(f"{writer}: parameter {index} of group {group_index} has shape "
                                     f"{param.shape} but its .grad has shape {grad.shape}")
                if not param.flags.writeable:
                    raise RuntimeError(f"{writer}: parameter {index} of group {group_index} (shape "
                                       f"{param.shape}) is a read-only array and cannot be updated in place")
                if maximize:
                    grad = -grad
                self._update(param, grad, self.state[p], group)
                increment_version(p, writer)  # a backward that saved p now fails
        self._step_count += 1
        return loss

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Change `param` in place from its gradient `grad` (already negated under `maximize`).

        `grad` may be the very array stored in `.grad`: never write into it.
        """
        raise NotImplementedError(f"{type(self).__name__} must define _update(param, grad, state, group)")

    # --- checkpoints ----------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The optimiser's state as plain data, in PyTorch's layout:

        `{'state': {index: {'step': n, 'exp_avg': Tensor, ...}}, 'param_groups': [{'lr': ..., 'params': [0, 1]}]}`

        Parameters are referred to by their position across all groups (the tensors themselves are not saved;
        `load_state_dict` pairs the positions with the parameters of the optimiser it is loaded into). Unlike
        PyTorch, the state tensors are copies: the dict is a snapshot that later steps do not change.
        `nn.save(opt.state_dict(), path)` writes it to a file.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {}
        for p, s in self.state.items():
            if s and id(p) in index:
                state[index[id(p)]] = {k: _copy_value(v) for k, v in s.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state saved by `state_dict()` (possibly after `nn.save`/`nn.load`), so that training
        continues exactly where it stopped. Values are copied, in each parameter's dtype."""
        name = type(self).__name__
        if not isinstance(state_dict, Mapping) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups' entries "
                             "(what Optimizer.state_dict() returns)")
        saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved_groups, (list, tuple)) or not all(
                isinstance(g, Mapping) and isinstance(g.get("params"), (list, tuple)) for g in saved_groups):
            raise ValueError(f"{name}.load_state_dict: 'param_groups' must be a list of dicts, each with a "
                             f"'params' list, got {saved_groups!r:.100}")
        if not isinstance(saved_state, Mapping):
            raise ValueError(f"{name}.load_state_dict: 'state' must be a dict of parameter index -> state dict, "
                             f"got {type(saved_state).__name__}")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the saved state has {len(saved_groups)} parameter groups, "
                             f"this optimizer has {len(self.param_groups)}")
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(f"{name}.load_state_dict: parameter group {i} has {len(group['params'])} "
                                 f"parameters here but {len(saved['params'])} in the saved state")
        # Everything is checked and converted before anything is assigned: a bad value changes nothing.
        id_map = {}
        for group, saved in zip(self.param_groups, saved_groups):
            for p, saved_id in zip(group["params"], saved["params"]):
                id_map[_as_index(name, saved_id)] = p
        state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for key, values in saved_state.items():
            k = _as_index(name, key)
            if k not in id_map:
                raise ValueError(f"{name}.load_state_dict: the saved state refers to parameter {key}, which no "
                                 "saved parameter group lists")
            if not isinstance(values, Mapping):
                raise ValueError(f"{name}.load_state_dict: the state of parameter {key} must be a dict, got "
                                 f"{type(values).__name__}")
            p = id_map[k]
            state[p] = {field: _restore_value(name, field, k, v, p) for field, v in values.items()}
        for group, saved in zip(self.param_groups, saved_groups):
            for key, value in saved.items():
                if key == "params":
                    continue
                if isinstance(group.get(key), tuple) and isinstance(value, list):
                    value = tuple(value)  # betas, etas, step_sizes come back as lists from some file formats
                group[key] = _plain(value)
        self.state = state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key not in ("params", "param_names"):
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def buffer(state: dict[str, Any], key: str, like: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """The array of the state tensor `state[key]`, created as `full_like(like, fill)` on first use.

    State lives in Tensors (what users inspect and what `state_dict` saves); the rules work on their arrays.
    """
    t = state.get(key)
    if t is None:
        t = state[key] = from_numpy(np.full_like(like, fill))
    return t.data


def _copy_value(value: Any) -> Any:
    if isinstance(value, Tensor):
        return from_numpy(np.array(value))
    if isinstance(value, np.ndarray):
        return value.copy()
    return copy.deepcopy(value)


def _as_index(name: str, key: Any) -> int:
    """Saved parameter positions are ints; a file format may have turned them into strings or floats."""
    try:
        index = float(np.asarray(key))
    except (TypeError, ValueError):
        index = math.nan
    if not index.is_integer():  # (NaN and infinities are not integers either)
        raise ValueError(f"{name}.load_state_dict: parameter positions must be integers, got {key!r:.60}")
    return int(index)


def _plain(value: Any) -> Any:
    """A loaded hyper-parameter as a Python value (0-d tensors and numpy scalars become numbers)."""
    if isinstance(value, Tensor) and value.ndim == 0:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    return value


def _restore_value(name: str, field: str, index: int, value: Any, param: Tensor) -> Any:
    """A saved state value, checked and converted: the step count as an int, arrays in the parameter's dtype and
    shape; anything else (a custom optimiser's own numbers) as a plain Python value."""
    where = f"{name}.load_state_dict: state '{field}' of parameter {index}"
    if field == "step":
        try:
            step = float(np.asarray(value))
        except (TypeError, ValueError):
            step = math.nan
        if not step.is_integer() or step < 0 or isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{where} must be a step count (a whole number >= 0), got {value!r:.60}")
        return int(step)
    if isinstance(value, (Tensor, np.ndarray)):
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{where} must hold real numbers, got an array of dtype {arr.dtype}")
        if arr.shape != param.shape:
            raise ValueError(f"{where} has shape {arr.shape}, but the parameter has shape {param.shape}")
        return from_numpy(np.array(arr, dtype=param.dtype))
    return _plain(value)
