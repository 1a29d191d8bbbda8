"""`Module`, the base class of every layer and model, and the containers `Sequential`, `ModuleList`, `ModuleDict`.

A Module registers what is assigned to its attributes: a `Parameter` becomes a learnable weight, another Module
a submodule, and `register_buffer` adds state that is saved but not learned (BatchNorm's running statistics).
From those registries come `parameters()`, `named_parameters()` with PyTorch's dotted names (`features.0.weight`),
`state_dict()`/`load_state_dict()`, `train()`/`eval()` and `to(dtype)`. Forward hooks
(`register_forward_pre_hook`, `register_forward_hook`) watch or change a module's inputs and outputs.

    >>> from nn import Linear
    >>> class Net(Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.hidden = Linear(2, 8)
    ...         self.out = Linear(8, 1)
    ...     def forward(self, x):
    ...         return self.out(self.hidden(x).relu())
    >>> [name for name, _ in Net().named_parameters()]
    ['hidden.weight', 'hidden.bias', 'out.weight', 'out.bias']

Registered values are kept both in the registries and in the instance `__dict__`, so that reading `self.weight`
in `forward` is an ordinary attribute lookup (PyTorch goes through `__getattr__` on every access).
All tree walks are iterative.
"""

from __future__ import annotations

import inspect
import itertools
import weakref
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from autograd import Tensor, from_numpy, no_grad
from autograd.device import not_available, parse_to
from autograd.errors import OpError, OpIndexError

from .parameter import Parameter

__all__ = ["Module", "Sequential", "ModuleList", "ModuleDict", "LayerError", "ShapeError", "LayerIndexError",
           "InputTypeError", "RemovableHandle"]

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _checkpoint_value(key: str, value: Any, target: Tensor) -> np.ndarray | str:
    """`value` from a checkpoint as an array of `target`'s dtype and shape, or the message saying why it cannot
    be one (load_state_dict checks every key before it copies any)."""
    try:
        array = np.asarray(value)
    except Exception as err:  # whatever __array__ of a foreign object raises
        return (f'While copying the parameter named "{key}", could not read the checkpoint\'s '
                f"{type(value).__name__} as an array ({type(err).__name__}: {err}).")
    if array.dtype.kind not in "biufc":
        what = type(value).__name__ if array.dtype.kind == "O" or array.ndim == 0 else f"an array of {array.dtype}"
        return (f'While copying the parameter named "{key}", expected a tensor or an array of numbers from the '
                f"checkpoint, but received {what}: {value!r:.60}")
    if array.shape != target.shape:
        return (f"size mismatch for {key}: copying a param with shape {array.shape} from the checkpoint, the shape "
                f"in the current model is {target.shape}.")
    if array.dtype.kind == "c" and target.dtype.kind != "c":
        return (f'While copying the parameter named "{key}", the checkpoint holds complex values ({array.dtype}), '
                f"which the {target.dtype} parameter cannot hold without dropping their imaginary parts.")
    if target.dtype.kind in "biu" and array.dtype.kind == "f" and not np.isfinite(array).all():
        return (f'While copying the parameter named "{key}", the checkpoint holds NaN or infinite values, which '
                f"the {target.dtype} buffer cannot hold.")
    return array.astype(target.dtype, copy=False)


class LayerError(Exception):
    """An error raised by a layer about its input, named by the layer's attribute path inside the model
    that was called (`features.0 (Conv2d)`): each enclosing `Module.__call__` that sees the error on its way
    out fills in the path, so nothing is computed unless an error actually happens."""

    def __init__(self, layer: Module, message: str) -> None:
        super().__init__(message)
        self.layer, self.message, self.path = layer, message, ""

    def locate(self, container: Module) -> None:
        """Record the layer's path inside `container` (called by every enclosing module on the way out)."""
        if container is self.layer:
            return
        for name, module in container.named_modules():
            if module is self.layer:
                self.path = name
                return

    def __str__(self) -> str:
        kind = type(self.layer).__name__
        return f"{self.path} ({kind}): {self.message}" if self.path else f"{kind}: {self.message}"


class ShapeError(LayerError, OpError):
    """A layer was given an input of the wrong shape: says which layer, the expected and the received shape."""

    def __init__(self, layer: Module, expected: str, got: tuple, detail: str = "") -> None:
        self.expected, self.got, self.detail = expected, tuple(got), detail
        super().__init__(layer, f"expected input of shape {expected}, got {self.got}"
                         + (f" ({detail})" if detail else ""))


class LayerIndexError(LayerError, OpIndexError):
    """A layer was given an index out of its range (an Embedding row, a class label)."""


class InputTypeError(LayerError, TypeError):
    """A layer was given something that is not a tensor (None, a string, a list of other things) where it
    needs one: says which layer, which argument and what it got."""

    def __init__(self, layer: Module, argument: str, got: Any) -> None:
        self.got = got
        super().__init__(layer, f"expected a Tensor (or a numpy array) as {argument}, got {_describe(got)}")


def _describe(value: Any) -> str:
    """What a wrong input is, for an error message: its type, and for a list what it holds."""
    if isinstance(value, (list, tuple)):
        kind = type(value).__name__
        stack, seen = [value], 0
        while stack and seen < 10_000:  # iteratively, and not forever on a huge list
            item = stack.pop()
            seen += 1
            if isinstance(item, (list, tuple)):
                stack.extend(reversed(item))
            elif not isinstance(item, (int, float, complex, np.number, np.bool_, Tensor, np.ndarray)):
                return f"a {kind} holding {type(item).__name__} ({item!r:.40})"
        return f"a {kind} of numbers (convert it with autograd.tensor(...) first)"
    if isinstance(value, (int, float, complex, np.number)):
        return f"{type(value).__name__} ({value!r}; wrap it with autograd.tensor(...))"
    return f"{type(value).__name__} ({value!r:.40})"


def _input_type_error(module: Module, args: tuple, kwargs: dict, err: Exception) -> InputTypeError | None:
    """The InputTypeError to raise instead of `err` (a TypeError or AttributeError from `forward`), when it
    comes from an argument that is not a tensor; None when the arguments are not at fault. Built only when an
    error happens, so the call path stays free. An argument is blamed when the AttributeError is about that
    very object (`None.shape`), or, for nn's own layers, whose first argument is always a tensor, when the
    first argument is not one, or when an argument is None (its default being something else). Tensors and
    numpy arrays are never blamed (layers take arrays), nor None for a parameter whose default is None (RNN's hx)."""
    try:
        parameters = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    named = [(p.name, p.default) for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    candidates = [(i, named[i] if i < len(named) else (f"argument {i + 1}", inspect.Parameter.empty), value)
                  for i, value in enumerate(args)]
    defaults = dict(named)
    candidates += [(None, (name, defaults.get(name, inspect.Parameter.empty)), value)
                   for name, value in kwargs.items()]
    first = named[0][0] if named else None
    ours = type(module).__module__.split(".")[0] == "nn"
    for position, (name, default), value in candidates:
        if isinstance(value, (Tensor, np.ndarray)) or (value is None and default is None):
            continue
        is_input = position == 0 or name == first
        about_it = isinstance(err, AttributeError) and getattr(err, "obj", _MISSING) is value
        # None where nn's own layer needs a tensor (its default is not None): refused when made a tensor
        if about_it or (ours and (is_input or value is None)):
            argument = "input" if is_input else name if position is not None and name.startswith("argument") \
                else f"'{name}'"
            return InputTypeError(module, argument, value)
    return None


_MISSING = object()


class RemovableHandle:
    """What `register_forward_hook` and `register_forward_pre_hook` return: `handle.remove()` unregisters the
    hook (removing twice is harmless); as a context manager it removes the hook on exit:

        with model.register_forward_hook(record):
            model(x)            # record sees this call only
    """

    _ids = itertools.count()

    def __init__(self, module: Module, registry: str) -> None:
        self.id = next(RemovableHandle._ids)
        self._module: Callable[[], Module | None] = weakref.ref(module)  # a handle does not keep a model alive
        self._registry = registry

    def remove(self) -> None:
        module = self._module()
        if module is not None and module.__dict__.get(self._registry, {}).pop(self.id, None) is not None:
            d = module.__dict__
            d["_has_hooks"] = bool(d.get("_forward_pre_hooks") or d.get("_forward_hooks"))

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.remove()


def _addindent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    return lines[0] + "".join("\n" + " " * spaces + line for line in lines[1:])


class Module:
    """Base class for layers and models: subclass it, assign layers and Parameters in `__init__`, write `forward`.

    Calling the module (`model(x)`) runs `forward`. `training` is True after construction; `eval()` sets it to
    False in the whole tree (Dropout and BatchNorm behave differently then).
    """

    training: bool
    _has_hooks = False  # True while a forward hook or pre-hook is registered: __call__ checks only this

    def __init__(self) -> None:
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = {}
        d["_buffers"] = {}
        d["_non_persistent_buffers"] = set()
        d["_modules"] = {}

    # --- calling ----------------------------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no forward(); define forward(self, ...) in the "
                                  "subclass")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._has_hooks:
            return self._call_with_hooks(args, kwargs)
        try:  # a try block costs nothing in Python 3.11+ unless an exception is raised
            return self.forward(*args, **kwargs)
        except LayerError as err:
            err.locate(self)
            raise
        except (TypeError, AttributeError) as err:  # None, a string, ... given for a tensor?
            wrong_input = _input_type_error(self, args, kwargs, err)
            if wrong_input is None:
                raise
            raise wrong_input from err

    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        """__call__ when hooks are registered: pre-hooks, forward, forward hooks, each in order (PyTorch's)."""
        d = self.__dict__
        try:
            for hook, with_kwargs in list(d.get("_forward_pre_hooks", {}).values()):
                if with_kwargs:
                    result = hook(self, args, kwargs)
                    if result is not None:
                        if not (isinstance(result, tuple) and len(result) == 2):
                            raise RuntimeError(f"{type(self).__name__}: a forward pre-hook registered with "
                                               "with_kwargs=True must return None or a tuple (new_args, "
                                               f"new_kwargs), got {type(result).__name__}")
                        args, kwargs = result
                else:
                    result = hook(self, args)
                    if result is not None:
                        args = result if isinstance(result, tuple) else (result,)
            output = self.forward(*args, **kwargs)
            for hook, with_kwargs in list(d.get("_forward_hooks", {}).values()):
                result = hook(self, args, kwargs, output) if with_kwargs else hook(self, args, output)
                if result is not None:
                    output = result
            return output
        except LayerError as err:
            err.locate(self)
            raise
        except (TypeError, AttributeError) as err:
            wrong_input = _input_type_error(self, args, kwargs, err)
            if wrong_input is None:
                raise
            raise wrong_input from err

    def _add_hook(self, registry: str, hook: Callable, prepend: bool, with_kwargs: bool, op: str) -> RemovableHandle:
        if not callable(hook):
            raise TypeError(f"{op}: the hook must be callable, got {type(hook).__name__}")
        d = self.__dict__
        hooks = d.setdefault(registry, OrderedDict())
        handle = RemovableHandle(self, registry)
        hooks[handle.id] = (hook, bool(with_kwargs))
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        d["_has_hooks"] = True
        return handle

    def register_forward_pre_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """Call `hook(module, args)` before every `forward`; a non-None result replaces the positional
        arguments (a value that is not a tuple is wrapped into one). With `with_kwargs=True` the hook is
        `hook(module, args, kwargs)` and may return a pair `(args, kwargs)`. Hooks run in registration order
        (`prepend=True` puts this one first). Returns a handle whose `remove()` unregisters it.

            >>> from nn import Linear
            >>> import autograd
            >>> layer = Linear(2, 2)
            >>> with layer.register_forward_pre_hook(lambda module, args: args[0] * 0):
            ...     float(layer(autograd.ones(2)).sum()) == float(layer.bias.sum())
            True
        """
        return self._add_hook("_forward_pre_hooks", hook, prepend, with_kwargs, "register_forward_pre_hook")

    def register_forward_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                              with_kwargs: bool = False) -> RemovableHandle:
        """Call `hook(module, args, output)` after every `forward` (args as given to forward, after any
        pre-hooks); a non-None result replaces the output. With `with_kwargs=True` the hook is
        `hook(module, args, kwargs, output)`. Hooks run in registration order (`prepend=True` puts this one
        first). Returns a handle whose `remove()` unregisters it (also on leaving a `with` block).

            >>> from nn import ReLU
            >>> import autograd
            >>> relu, shapes = ReLU(), []
            >>> handle = relu.register_forward_hook(lambda module, args, output: shapes.append(output.shape))
            >>> _ = relu(autograd.zeros(2, 3))
            >>> handle.remove()
            >>> _ = relu(autograd.zeros(4))
            >>> shapes
            [(2, 3)]
        """
        return self._add_hook("_forward_hooks", hook, prepend, with_kwargs, "register_forward_hook")

    # --- registration -----------------------------------------------------------------------------------------
    def _registries(self) -> tuple[dict, dict, dict]:
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(f"cannot assign parameters, modules or buffers to {type(self).__name__} before "
                                 "Module.__init__() is called: put super().__init__() first in its __init__")
        return d["_parameters"], d["_modules"], d["_buffers"]

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, Parameter):
            params, modules, buffers = self._registries()
            modules.pop(name, None)
            buffers.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params, modules, buffers = self._registries()
            params.pop(name, None)
            buffers.pop(name, None)
            modules[name] = value
        else:
            d = self.__dict__
            if name in d.get("_parameters", ()):
                if value is not None:
                    raise TypeError(f"cannot assign a {type(value).__name__} to parameter '{name}' of "
                                    f"{type(self).__name__}: wrap it in nn.Parameter(...) (or assign None)")
                d["_parameters"][name] = None
            elif name in d.get("_buffers", ()):
                if value is not None and not isinstance(value, Tensor):
                    raise TypeError(f"cannot assign a {type(value).__name__} to buffer '{name}' of "
                                    f"{type(self).__name__}: a Tensor (or None) is expected")
                d["_buffers"][name] = value
            elif name in d.get("_modules", ()):
                if value is not None:
                    raise TypeError(f"cannot assign a {type(value).__name__} to submodule '{name}' of "
                                    f"{type(self).__name__}: a Module (or None) is expected")
                d["_modules"][name] = None
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        for registry in ("_parameters", "_buffers", "_modules"):
            self.__dict__.get(registry, {}).pop(name, None)
        self.__dict__.get("_non_persistent_buffers", set()).discard(name)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or a None placeholder, as for `bias=False`) under `name`."""
        self._check_name(name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: '{name}' must be an nn.Parameter or None, got "
                            f"{type(param).__name__}")
        params, modules, buffers = self._registries()
        modules.pop(name, None)
        buffers.pop(name, None)
        params[name] = param
        object.__setattr__(self, name, param)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a tensor that is part of the module's state but not learned (saved in `state_dict` when
        `persistent`)."""
        self._check_name(name, "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: '{name}' must be a Tensor or None, got {type(tensor).__name__}")
        params, modules, buffers = self._registries()
        params.pop(name, None)
        modules.pop(name, None)
        buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)
        object.__setattr__(self, name, tensor)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a submodule under `name` (`Sequential` uses "0", "1", ...)."""
        self._check_name(name, "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: '{name}' must be a Module or None, got {type(module).__name__}")
        params, modules, buffers = self._registries()
        params.pop(name, None)
        buffers.pop(name, None)
        modules[name] = module
        object.__setattr__(self, name, module)

    register_module = add_module

    @staticmethod
    def _check_name(name: Any, what: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{what} name must be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"{what} name {name!r} must be non-empty and contain no '.'")

    # --- walking the tree -------------------------------------------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """This module and all below it, depth first in registration order, with dotted names ('' for self)."""
        seen = memo if memo is not None else set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if remove_duplicate:
                if id(module) in seen:
                    continue
                seen.add(id(module))
            yield name, module
            children = [(f"{name}.{k}" if name else k, m) for k, m in module._modules.items() if m is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry: str, prefix: str, recurse: bool,
                       remove_duplicate: bool = True) -> Iterator[tuple[str, Any]]:
        seen = set()
        walk = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_name, module in walk:
            for name, value in module.__dict__[registry].items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{module_name}.{name}" if module_name else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs; a parameter shared by two layers is listed once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> Module:
        """The submodule at a dotted path, e.g. `model.get_submodule('features.0')`."""
        module = self
        if target == "":
            return module
        for i, part in enumerate(target.split(".")):
            child = module._modules.get(part)
            if child is None:
                where = ".".join(target.split(".")[:i]) or type(self).__name__
                raise AttributeError(f"get_submodule: {where} has no submodule '{part}' (path '{target}')")
            module = child
        return module

    def get_parameter(self, target: str) -> Parameter:
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if module._parameters.get(name) is None:
            raise AttributeError(f"get_parameter: '{target}' is not a parameter")
        return module._parameters[name]

    def num_parameters(self, trainable_only: bool = False) -> int:
        """The number of scalar parameters (shared parameters counted once)."""
        return int(sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only))

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call `fn` on every submodule (children first, as PyTorch does) and on self."""
        for module in reversed(list(self.modules())):
            fn(module)
        return self

    # --- modes and gradients ----------------------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (True) or evaluation mode (False) here and in every submodule."""
        if not isinstance(mode, bool):
            raise TypeError(f"train: mode must be a bool, got {type(mode).__name__}")
        for module in self.modules():
            module.__dict__["training"] = mode
        return self

    def eval(self) -> Module:
        """Evaluation mode: `train(False)`."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters (to None by default, as in PyTorch)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                with no_grad():
                    p.grad = from_numpy(np.zeros_like(p.grad.data))

    # --- state ------------------------------------------------------------------------------------------------
    def state_dict(self, destination: dict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> OrderedDict:
        """Parameters and persistent buffers by dotted name. Values are detached tensors sharing memory
        with the module (copy them to keep a snapshot), or the parameters themselves with `keep_vars=True`."""
        out = OrderedDict() if destination is None else destination
        for module_name, module in self.named_modules(prefix=prefix.rstrip(".") if prefix else "",
                                                      remove_duplicate=False):
            d = module.__dict__
            for registry in ("_parameters", "_buffers"):
                for name, value in d[registry].items():
                    if value is None or (registry == "_buffers" and name in d["_non_persistent_buffers"]):
                        continue
                    key = f"{module_name}.{name}" if module_name else name
                    out[key] = value if keep_vars else value.detach()
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy values into this module's parameters and buffers, keeping their dtypes.

        Values may be Tensors, numpy arrays, or anything numpy reads as an array of numbers (a PyTorch state dict
        works as is). With `strict=True` (default) the keys must match exactly; a value of the wrong shape, or
        one that is not numbers (None, a string) or cannot be cast to the parameter's dtype, is always an error.
        All or nothing: every value is checked before any is copied, and one RuntimeError lists every problem.
        Returns the (missing_keys, unexpected_keys) lists.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict: expected a dict of name -> tensor, got {type(state_dict).__name__}")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        values = {}
        for key, target in own.items():
            if key in state_dict:
                cast = _checkpoint_value(key, state_dict[key], target)
                if isinstance(cast, str):
                    errors.append(cast)
                else:
                    values[key] = cast
        if strict:
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
            if unexpected:
                errors.insert(len(missing) > 0, "Unexpected key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in unexpected) + ".")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        with no_grad():
            for key, array in values.items():
                own[key].copy_(array)
        return IncompatibleKeys(missing, unexpected)

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Convert floating-point parameters and buffers in place; returns self. PyTorch's forms:
        `to(dtype)`, `to(device)`, `to(device, dtype)`, `to(tensor)`, `to(device=..., dtype=...)`. The device
        can only be the CPU, where everything already is (anything else raises autograd.DeviceError)."""
        if args and isinstance(args[0], Tensor):
            args = (args[0].dtype, *args[1:])
        dtype, _ = parse_to("Module.to", args, kwargs)
        if dtype is None:
            return self
        target = np.dtype(dtype)
        if target.kind != "f":
            raise TypeError(f"Module.to: only floating-point dtypes are supported, got {target}")
        for module in self.modules():
            d = module.__dict__
            for registry in ("_parameters", "_buffers"):
                for value in d[registry].values():
                    if value is None or value.dtype.kind != "f" or value.dtype == target:
                        continue
                    value.data = from_numpy(np.asarray(value.data, dtype=target))  # .data = : no copy
                    if value.grad is not None:
                        value.grad = from_numpy(np.asarray(value.grad.data, dtype=target))
        return self

    def float(self) -> Module:
        return self.to(np.float32)

    def double(self) -> Module:
        return self.to(np.float64)

    def cpu(self) -> Module:
        """self: parameters live in main memory already."""
        return self

    def cuda(self, device: Any = None) -> Module:
        """Raises autograd.DeviceError: there is no GPU (see the README's section on scaling)."""
        raise not_available("cuda" if device is None else device, "Module.cuda")

    # --- printing ---------------------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The arguments shown between the parentheses of this module's repr (override in layers)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        # PyTorch's layout: one line per child, indented. Written with an explicit stack (no recursion).
        def head(module: Module) -> str:
            return module._get_name() + "("

        # Build the text bottom-up: process modules in reverse depth-first order so children come first.
        order = [m for _, m in self.named_modules(remove_duplicate=False)]
        texts: dict[int, str] = {}
        for module in reversed(order):
            extra = module.extra_repr()
            lines = extra.split("\n") if extra else []
            for name, child in module._modules.items():
                child_text = texts.get(id(child), "None") if child is not None else "None"
                lines.append(f"({name}): " + _addindent(child_text, 2))
            if not lines:
                texts[id(module)] = head(module) + ")"
            elif len(lines) == 1 and not module._modules:
                texts[id(module)] = head(module) + lines[0] + ")"
            else:
                texts[id(module)] = head(module) + "\n  " + "\n  ".join(lines) + "\n)"
        return texts[id(self)]

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()))


class _ModuleSequence(Module):
    """What Sequential and ModuleList share: children named "0", "1", ... kept in order, list-like access."""

    def _key(self, idx: int) -> str:
        keys = list(self._modules)
        if not -len(keys) <= idx < len(keys):
            raise IndexError(f"{type(self).__name__}: index {idx} is out of range for {len(keys)} modules")
        return keys[idx]

    def _renumber(self, modules: list[Module]) -> None:
        """Make `modules` the children, named 0, 1, 2, ... (PyTorch renumbers the same way)."""
        for key in list(self._modules):
            delattr(self, key)
        for i, module in enumerate(modules):
            self.add_module(str(i), module)

    def __setitem__(self, idx: int, module: Module) -> None:
        setattr(self, self._key(idx), module)

    def __delitem__(self, idx: int | slice) -> None:
        items = list(self._modules.values())
        del items[idx]
        self._renumber(items)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Any:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> Any:
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> Any:
        items = list(self._modules.values())
        items.insert(index, module)
        self._renumber(items)
        return self


class Sequential(_ModuleSequence):
    """Modules applied one after the other: `Sequential(Linear(2, 8), ReLU(), Linear(8, 1))`.

    Children are named "0", "1", ... (or by the keys of an OrderedDict); indexing with an int gives a layer,
    with a slice a new Sequential sharing the layers.
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(modules):
                if not isinstance(module, Module):
                    raise TypeError(f"Sequential: argument {i} is a {type(module).__name__}, not a Module")
                self.add_module(str(i), module)

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        return self._modules[self._key(idx)]


class ModuleList(_ModuleSequence):
    """A list of modules whose parameters are registered (a plain Python list would hide them)."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        return self._modules[self._key(idx)]

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleList is a container, not a layer: iterate over it in your forward()")


class ModuleDict(Module):
    """A dict of modules whose parameters are registered, in insertion order."""

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def keys(self) -> Iterable[str]:
        return self._modules.keys()

    def values(self) -> Iterable[Module]:
        return self._modules.values()

    def items(self) -> Iterable[tuple[str, Module]]:
        return self._modules.items()

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for key, module in pairs:
            self.add_module(key, module)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleDict is a container, not a layer: index it in your forward()")
