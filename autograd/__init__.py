"""autograd: a define-by-run reverse-mode automatic differentiation engine on numpy.

    >>> import autograd
    >>> x = autograd.tensor(2.0, requires_grad=True)
    >>> y = x * x + autograd.sin(x)
    >>> y.backward()
    >>> x.grad            # 2x + cos(x)
    tensor(3.5839)

Where things live: `core.py` (Tensor, Node, Primitive), `engine.py` (the backward walk), `ops.py` (the
derivative table: every primitive's forward and VJP), `kernels.py` (the numpy kernels under it),
`operations.py` (the op API: argument checks and composite ops), `function.py` (custom Functions),
`transforms.py` (vjp, jvp, jacobian, hessian: `autograd.functional`), `creation.py` (factories),
`device.py` (PyTorch's device plumbing; the CPU only), `random.py` (generators, random factories, sampling),
`numpy_dispatch.py` (numpy interoperability), `grad_mode.py` (no_grad and the other modes, per thread),
`anomaly.py` (NaN hunting), `labels.py` (how drawings name ops), `graph.py` (increment_version).

Everything public is exported here (plus the submodules `functional`, `viz`, `graph`, `random`, `device` and
`errors`); nn uses nothing else.
"""

from __future__ import annotations

import sys as _sys

from . import (
    graph,  # increment_version, for code that writes tensor data itself (torch.autograd.graph)
    transforms,  # vjp, jvp, jacobian, hessian, hvp: public as autograd.functional (torch.autograd.functional)
    viz,  # drawing graphs (imports graphviz only when draw() is called)
)
from .anomaly import (
    AnomalyError,
    detect_anomaly,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    set_detect_anomaly,
)
from .core import Node, Primitive, Tensor, Unkept
from .creation import (
    arange,
    as_tensor,
    bool_,
    double,
    empty,
    eye,
    float,
    float16,
    float32,
    float64,
    from_numpy,
    full,
    full_like,
    half,
    int8,
    int16,
    int32,
    int64,
    linspace,
    long,
    ones,
    ones_like,
    tensor,
    uint8,
    zeros,
    zeros_like,
)
from .creation import (
    bool_ as bool,
)
from .creation import (
    int32 as int,
)
from .device import (  # (binds autograd.device to the class, as torch.device; the module stays importable)
    DeviceError,
    accelerator,
    backends,
    cuda,
    device,
)
from .engine import grad
from .function import Function, FunctionCtx
from .grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from .gradcheck import (
    GradcheckError,
    GradcheckWarning,
    check_graph,
    gradcheck,
    gradgradcheck,
    record_locations,
)
from .kernels import max_pool_choice, max_pool_pad_value  # which element a max-pool window picks, its padding
from .memory import keep_freed_memory as _keep_freed_memory
from .operations import (
    MaxMin,
    all,
    allclose,
    amax,
    amin,
    any,
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctan2,
    arctanh,
    argmax,
    argmin,
    argsort,
    argwhere,
    astype,
    atleast_1d,
    atleast_2d,
    atleast_3d,
    bitwise_and,
    bitwise_left_shift,
    bitwise_not,
    bitwise_or,
    bitwise_right_shift,
    bitwise_xor,
    broadcast_to,
    bucketize,
    cat,
    ceil,
    chunk,
    clamp,
    clip,
    concatenate,
    count_nonzero,
    cross,
    cummax,
    cummin,
    cumprod,
    cumsum,
    diag,
    diag_embed,
    diagonal,
    div,
    divide,
    dot,
    einsum,
    eq,
    expand,
    expand_as,
    fix,
    flatten,
    flip,
    floor,
    gather,
    ge,
    ger,
    gt,
    index_add,
    index_select,
    isclose,
    isfinite,
    isinf,
    isnan,
    kron,
    kthvalue,
    le,
    log_softmax,
    logcumsumexp,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    logsumexp,
    lt,
    masked_fill,
    masked_select,
    matmul,
    max,
    mean,
    median,
    meshgrid,
    min,
    moveaxis,
    movedim,
    msort,
    multiply,
    nan_to_num,
    narrow,
    ne,
    negative,
    nonzero,
    norm,
    outer,
    pad,
    permute,
    prod,
    quantile,
    reciprocal,
    repeat,
    repeat_interleave,
    reshape,
    roll,
    rot90,
    round,
    rsqrt,
    scatter,
    scatter_add,
    scatter_reduce,
    searchsorted,
    softmax,
    sort,
    split,
    square,
    squeeze,
    stack,
    std,
    std_mean,
    subtract,
    sum,
    swapaxes,
    swapdims,
    t,
    take_along_dim,
    tile,
    topk,
    trace,
    transpose,
    tril,
    triu,
    true_divide,
    trunc,
    unbind,
    unflatten,
    unique,
    unsqueeze,
    var,
    var_mean,
    view,
    where,
)
from .ops import EXPORTS as _EXPORTS
from .ops import (  # fused primitives and layer building blocks: nn uses these, and only public names
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    fold,
    linear,
    max_pool,
    mse_loss,
    nll,
    softplus,
    unfold,
)
from .out import accepts_out as _accepts_out
from .random import (
    Generator,
    bernoulli,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    multinomial,
    normal,
    poisson,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    seed,
    set_rng_state,
)

globals().update(_EXPORTS)  # the primitives registered with export=True in ops.py: add, exp, tanh, ...


# out= on the composite functions that take it in PyTorch (primitives such as add, mul, exp take it in
# Primitive.__call__; where, cat and stack in their signatures). Only these exported names are wrapped: Tensor
# methods call the functions underneath and pay nothing.
# (maximum, minimum and the other registered primitives take out= in Primitive.__call__ already.)
(sum, mean, prod, amax, amin, max, min, argmax, argmin, logsumexp, var, std, norm, all, any, clamp, clip,
 matmul, dot, gather, eq, ne, lt, le, gt, ge, square, rsqrt, reciprocal, logical_and, logical_or,
 logical_xor, logical_not) = (
    _accepts_out(f) if not isinstance(f, Primitive) else f
    for f in (sum, mean, prod, amax, amin, max, min, argmax, argmin, logsumexp, var, std, norm, all, any, clamp,
              clip, matmul, dot, gather, eq, ne, lt, le, gt, ge, square, rsqrt, reciprocal,
              logical_and, logical_or, logical_xor, logical_not))
functional = transforms
_sys.modules[__name__ + ".functional"] = transforms  # `import autograd.functional`, `from autograd.functional ...`
_keep_freed_memory()  # reuse freed memory instead of page-faulting it back every step (see memory.py)

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    if name == "bfloat16":  # PyTorch's dtype that numpy cannot represent: say so instead of a bare AttributeError
        raise AttributeError("autograd.bfloat16: numpy has no bfloat16 type, so tensors here cannot hold it; use "
                             "autograd.float32 (bfloat16's range, more precision) or autograd.float16")
    raise AttributeError(f"module 'autograd' has no attribute {name!r}")
