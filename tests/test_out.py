"""out= as in PyTorch, and errors for keywords an op does not take (issue 20)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import autograd

A = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
B = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)

CASES = {  # name -> a call with out=, written once for both libraries (T is autograd or torch)
    "add": (lambda T, a, b, out: T.add(a, b, out=out)),
    "mul": (lambda T, a, b, out: T.mul(a, b, out=out)),
    "exp": (lambda T, a, b, out: T.exp(a, out=out)),
    "tanh": (lambda T, a, b, out: T.tanh(b, out=out)),
    "matmul": (lambda T, a, b, out: T.matmul(a, b.T, out=out)),
    "sum": (lambda T, a, b, out: T.sum(a, 1, out=out)),
    "mean": (lambda T, a, b, out: T.mean(a, 0, keepdim=True, out=out)),
    "amax": (lambda T, a, b, out: T.amax(b, 1, out=out)),
    "clamp": (lambda T, a, b, out: T.clamp(b, -0.5, 0.5, out=out)),
    "maximum": (lambda T, a, b, out: T.maximum(a, b, out=out)),
    "where": (lambda T, a, b, out: T.where(a > 0.3, a, b, out=out)),
    "cat": (lambda T, a, b, out: T.cat([a, b], 0, out=out)),
    "stack": (lambda T, a, b, out: T.stack([a, b], 1, out=out)),
    "gt": (lambda T, a, b, out: T.gt(a, b, out=out)),
    "logsumexp": (lambda T, a, b, out: T.logsumexp(a, 1, out=out)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_out_writes_into_the_given_tensor_as_pytorch(name: str) -> None:
    torch = pytest.importorskip("torch")
    call = CASES[name]
    expected = call(torch, torch.tensor(A), torch.tensor(B), None)
    out = autograd.zeros(expected.shape, dtype=np.bool_ if expected.dtype == torch.bool else np.float32)
    before = out.numpy()
    result = call(autograd, autograd.tensor(A), autograd.tensor(B), out)
    assert result is out and np.shares_memory(out.numpy(), before)  # written in place
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-6, atol=1e-7)


def test_out_refuses_inputs_that_require_grad() -> None:
    x = autograd.tensor(A, requires_grad=True)
    for call in [lambda: autograd.mul(x, 2.0, out=autograd.zeros(2, 3)),
                 lambda: autograd.sum(x, 0, out=autograd.zeros(3)),
                 lambda: autograd.cat([x, x], out=autograd.zeros(4, 3)),
                 lambda: autograd.exp(autograd.tensor(A), out=autograd.zeros(2, 3, requires_grad=True))]:
        with pytest.raises(RuntimeError, match=r"\(\): functions with out=\.\.\. arguments don't support automatic "
                                                "differentiation, but one of the arguments requires grad"):
            call()
    with autograd.no_grad():  # outside grad mode it is allowed, as in PyTorch
        out = autograd.zeros(2, 3)
        autograd.mul(x, 2.0, out=out)
    np.testing.assert_allclose(out.numpy(), A * 2)
    assert not out.requires_grad and out.grad_fn is None


def test_out_casts_as_pytorch_and_resizes() -> None:
    out64 = autograd.zeros(2, 3, dtype=np.float64)
    autograd.add(autograd.tensor(A), 1.0, out=out64)  # float32 into float64: fine
    assert out64.dtype == np.float64
    with pytest.raises(RuntimeError, match="result type float32 can't be cast to the desired output type int64"):
        autograd.add(autograd.tensor(A), 1.0, out=autograd.zeros(2, 3, dtype=np.int64))
    empty = autograd.zeros(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an empty out is resized silently
        autograd.sum(autograd.tensor(A), 0, out=empty)
    assert empty.shape == (3,)
    with pytest.warns(UserWarning, match=r"sum\(\): an output with one or more elements was resized"):
        autograd.sum(autograd.tensor(A), 0, out=autograd.zeros(5))
    with pytest.raises(TypeError, match="argument 'out' must be a Tensor, not ndarray"):
        autograd.mul(autograd.tensor(A), 2.0, out=np.zeros((2, 3)))
    with pytest.raises(TypeError, match="argument 'out' must be a Tensor, not ndarray"):
        autograd.sum(autograd.tensor(A), 0, out=np.zeros(3))


def test_out_bumps_the_version_of_a_saved_tensor() -> None:
    w = autograd.tensor([1.0, 2.0], requires_grad=True)
    z = autograd.ones(2)
    y = (w * z).sum()  # mul saves z for w's gradient
    with autograd.no_grad():
        autograd.add(z, 1.0, out=z)
    with pytest.raises(RuntimeError, match="was saved for the backward pass and then modified in place"):
        y.backward()


def test_an_unknown_keyword_names_our_function() -> None:
    x = autograd.ones(2)
    with pytest.raises(TypeError, match=r"^mul\(\) got an unexpected keyword argument: 'alpha' \(it takes no keyword"):
        autograd.mul(x, x, alpha=2)
    with pytest.raises(TypeError, match=r"^exp\(\) got an unexpected keyword argument: 'base'"):
        autograd.exp(x, base=2)
    try:
        autograd.add(x, x, alpha=3)
    except TypeError as err:
        assert "_operator" not in str(err)
