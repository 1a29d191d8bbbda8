"""Every public name promised in the API contract exists, as a function and (where PyTorch has one) a method."""

from __future__ import annotations

import numpy as np
import pytest

import autograd as ag

ELEMENTWISE = ["exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "sign"]
REDUCTIONS = ["sum", "mean", "var", "std", "amax", "amin", "logsumexp", "prod", "max", "min", "argmax", "argmin"]
SHAPE = ["reshape", "view", "flatten", "squeeze", "unsqueeze", "transpose", "permute", "expand", "broadcast_to",
         "repeat", "flip", "split", "chunk", "gather", "matmul", "dot", "softmax", "log_softmax", "clamp", "clip",
         "maximum", "minimum", "where"]
FUNCTIONS_ONLY = ["cat", "stack", "pad", "einsum", "add", "sub", "mul", "div", "pow", "neg", "no_grad",
                  "enable_grad", "is_grad_enabled", "grad", "detect_anomaly", "Function", "gradcheck",
                  "gradgradcheck", "zeros", "ones", "full", "zeros_like", "ones_like", "arange", "linspace", "eye",
                  "rand", "randn", "randint", "manual_seed", "from_numpy", "tensor", "Tensor", "float32", "float64"]


@pytest.mark.parametrize("name", ELEMENTWISE + REDUCTIONS + SHAPE + FUNCTIONS_ONLY)
def test_function_exists(name):
    assert hasattr(ag, name), f"autograd.{name} is missing"


@pytest.mark.parametrize("name", ELEMENTWISE + REDUCTIONS + SHAPE + ["add", "sub", "mul", "div", "pow", "neg"])
def test_method_exists(name):
    assert callable(getattr(ag.Tensor, name, None)), f"Tensor.{name} is missing"


def test_attributes():
    t = ag.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert t.shape == (2, 2) and t.ndim == 2 and t.dtype == ag.float32 and t.size() == (2, 2) and t.size(1) == 2
    assert t.numel() == 4 and len(t) == 2 and t.T.tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert isinstance(t.data, np.ndarray) and isinstance(t.numpy(), np.ndarray)
    assert t.is_leaf and t.grad is None and t.grad_fn is None
    assert (t * 2).grad_fn is not None and not (t * 2).is_leaf
    assert ag.tensor(2.5).item() == 2.5 and t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert t.float().dtype == np.float32 and t.double().dtype == np.float64 and t.astype("float64").dtype == np.float64


def test_factories():
    ag.manual_seed(0)
    a = ag.randn(2, 3)
    ag.manual_seed(0)
    assert np.array_equal(a.numpy(), ag.randn(2, 3).numpy())
    assert ag.zeros(2, 3, requires_grad=True).requires_grad
    assert ag.full((2,), 7.0).tolist() == [7.0, 7.0] and ag.eye(2).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert ag.arange(0, 1, 0.5).dtype == np.float32 and ag.linspace(0, 1, 3).tolist() == [0.0, 0.5, 1.0]
    r = ag.randint(0, 5, (10,))
    assert r.dtype == np.int64 and r.shape == (10,) and r.numpy().min() >= 0 and r.numpy().max() < 5
    assert ag.from_numpy(np.ones(3)).dtype == np.float64


def test_functions_and_methods_agree():
    x = ag.tensor([[1.0, -2.0, 3.0], [0.5, 0.0, -1.0]])
    assert np.allclose(ag.softmax(x, 1).numpy(), x.softmax(1).numpy())
    assert ag.max(x).item() == x.max().item() == 3.0
    assert ag.split(x, 2, 1)[1].shape == x.split(2, 1)[1].shape == (2, 1)
    assert ag.where(x > 0, x, ag.zeros_like(x)).tolist() == x.where(x > 0, 0.0).tolist()
    assert ag.cat([x, x], dim=0).shape == (4, 3) and ag.stack([x, x], dim=1).shape == (2, 2, 3)
    assert ag.pad(x, ((0, 0), (1, 1))).shape == (2, 5)


# issue 15, scans, orderings, gather/scatter: functions, and methods where PyTorch has them
SCANS_AND_SCATTER = ["cumsum", "cumprod", "cummax", "cummin", "logcumsumexp", "sort", "argsort", "msort", "topk",
                     "kthvalue", "median", "quantile", "unique", "masked_select", "nonzero", "argwhere",
                     "count_nonzero", "index_select", "index_add", "scatter", "scatter_add", "scatter_reduce",
                     "take_along_dim"]


@pytest.mark.parametrize("name", [*SCANS_AND_SCATTER, "searchsorted", "bucketize", "var_mean", "std_mean"])
def test_scans_and_scatter_exist(name):
    assert callable(getattr(ag, name, None)), f"autograd.{name} is missing"
    if name in SCANS_AND_SCATTER:
        assert callable(getattr(ag.Tensor, name, None)), f"Tensor.{name} is missing"
