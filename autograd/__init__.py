"""autograd: a define-by-run reverse-mode automatic differentiation engine on numpy.

    >>> import autograd
    >>> x = autograd.tensor(2.0, requires_grad=True)
    >>> y = x * x + autograd.sin(x)
    >>> y.backward()
    >>> x.grad            # 2x + cos(x)
    tensor(3.5839)

Where things live: `core.py` (Tensor, Node, Primitive), `engine.py` (the backward walk), `ops.py` (the
derivative table: every primitive's forward and VJP), `functions.py` (the functional API and composite ops),
`creation.py` (factories), `numpy_dispatch.py` (numpy interoperability), `grad_mode.py` (no_grad and the other
modes, per thread), `anomaly.py` (NaN hunting), `graph.py` (increment_version).

Everything public is exported here (plus the submodules `functional`, `viz` and `graph`); nn uses nothing else.
"""

from __future__ import annotations

from . import (
    functional,  # vjp, jvp, jacobian, hessian, hvp (autograd.functional)
    graph,  # increment_version, for code that writes tensor data itself (torch.autograd.graph)
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
    default_generator,
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
    manual_seed,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    tensor,
    uint8,
    zeros,
    zeros_like,
)
from .creation import (
    bool_ as bool,
)
from .engine import grad
from .function import Function, FunctionCtx
from .functions import (
    MaxMin,
    abs,
    add,
    all,
    allclose,
    amax,
    amin,
    any,
    argmax,
    argmin,
    astype,
    bitwise_and,
    bitwise_left_shift,
    bitwise_not,
    bitwise_or,
    bitwise_right_shift,
    bitwise_xor,
    broadcast_to,
    cat,
    chunk,
    clamp,
    clip,
    clone,
    concatenate,
    cos,
    div,
    divide,
    dot,
    einsum,
    eq,
    erf,
    exp,
    expand,
    expand_as,
    expm1,
    flatten,
    flip,
    gather,
    ge,
    gt,
    index_add,
    isfinite,
    isinf,
    isnan,
    le,
    log,
    log1p,
    log_softmax,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    logsumexp,
    lt,
    masked_fill,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mul,
    multiply,
    ne,
    neg,
    negative,
    norm,
    pad,
    permute,
    pow,
    prod,
    reciprocal,
    relu,
    repeat,
    reshape,
    rsqrt,
    sigmoid,
    sign,
    sin,
    softmax,
    split,
    sqrt,
    square,
    squeeze,
    stack,
    std,
    sub,
    subtract,
    sum,
    swapaxes,
    take_along_dim,
    tanh,
    transpose,
    true_divide,
    unbind,
    unsqueeze,
    var,
    view,
    where,
)
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
from .memory import keep_freed_memory as _keep_freed_memory
from .ops import (  # fused primitives and layer building blocks: nn uses these, and only public names
    binary_cross_entropy,
    linear,
    max_pool,
    max_pool_choice,
    max_pool_pad_value,
    nll,
    softplus,
    unfold,
)

_keep_freed_memory()  # reuse freed memory instead of page-faulting it back every step (see memory.py)

__version__ = "0.1.0"
