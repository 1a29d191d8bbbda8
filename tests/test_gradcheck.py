"""Tests that prove the checker: a catalogue of wrong backward functions (every one caught, in full and fast
mode, at the right input and elements), many correct functions (no false failures, float64 and float32
inputs, several seeds), kinks, the report's format, and the second-order check."""

import math
import warnings

import numpy as np
import pytest
from custom_functions import MulAdd, Softplus

import autograd
from autograd import Function, GradcheckError, GradcheckWarning, gradcheck, gradgradcheck
from autograd.gradcheck import analytical_jacobian, numerical_jacobian


def custom(name, forward, backward):
    """A Function from a numpy forward f(*arrays) and a numpy backward(g, *arrays) -> gradient arrays."""

    def fwd(ctx, *xs):
        ctx.save_for_backward(*xs)
        return autograd.tensor(np.asarray(forward(*[x.data for x in xs]), dtype=xs[0].dtype))

    def bwd(ctx, g):
        grads = backward(g.data, *[x.data for x in ctx.saved_tensors])
        return grads if isinstance(grads, tuple) else (grads,)

    return type(name, (Function,), {"forward": staticmethod(fwd), "backward": staticmethod(bwd)}).apply


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def scatter(n, idx, g):
    out = np.zeros(n)
    np.add.at(out, idx, g)
    return out


def one_hot_at(x, pick, g):
    out = np.zeros_like(x)
    np.put_along_axis(out, pick(x, -1)[..., None], g[..., None], -1)
    return out


IDX = np.array([0, 2, 2, 4])
RELU_X = np.array([-0.9, -0.7, -0.4, -0.2, 0.1, 0.3, 0.6, 0.8])
CLAMP_X = np.array([-1.7, -0.4, 0.2, 0.9, 1.3, 2.2])
PROD_X = np.array([1.5, 0.0, -2.0, 0.7])

# name: (forward, correct backward, buggy backward, input shapes or fixed arrays, domain)
CATALOGUE = {
    "wrong sign (exp)": (np.exp, lambda g, x: g * np.exp(x), lambda g, x: -g * np.exp(x), [(3, 4)], "any"),
    "missing broadcast reduction (bias add takes one row)": (
        lambda x, b: x + b, lambda g, x, b: (g, g.sum(0)), lambda g, x, b: (g, g[0]), [(4, 3), (3,)], "any"),
    "transposed matmul gradient": (
        lambda x, w: x @ w, lambda g, x, w: (g @ w.T, x.T @ g), lambda g, x, w: (g @ w, x.T @ g),
        [(3, 3), (3, 3)], "any"),
    "forgotten chain factor (sin 2x)": (
        lambda x: np.sin(2 * x), lambda g, x: 2 * g * np.cos(2 * x), lambda g, x: g * np.cos(2 * x), [(5,)], "any"),
    "wrong index scatter (gather)": (
        lambda x: x[IDX], lambda g, x: scatter(5, IDX, g), lambda g, x: scatter(5, (IDX + 1) % 5, g), [(5,)], "any"),
    "off-by-one in a reduction (mean)": (
        lambda x: x.mean(-1), lambda g, x: np.broadcast_to(g[:, None] / 5, x.shape),
        lambda g, x: np.broadcast_to(g[:, None] / 4, x.shape), [(3, 5)], "any"),
    "cumsum gradient in the wrong direction": (
        np.cumsum, lambda g, x: np.cumsum(g[::-1])[::-1], lambda g, x: np.cumsum(g), [(6,)], "any"),
    "softmax missing the normalisation term": (
        softmax, lambda g, x: softmax(x) * (g - (g * softmax(x)).sum(-1, keepdims=True)),
        lambda g, x: g * softmax(x), [(2, 4)], "any"),
    "tanh derivative missing the square": (
        np.tanh, lambda g, x: g * (1 - np.tanh(x) ** 2), lambda g, x: g * (1 - np.tanh(x)), [(2, 3)], "any"),
    "sigmoid derivative on the input, not the output": (
        lambda x: 1 / (1 + np.exp(-x)), lambda g, x: g * np.exp(-x) / (1 + np.exp(-x)) ** 2,
        lambda g, x: g * x * (1 - x), [(4,)], "any"),
    "log derivative multiplies": (np.log, lambda g, x: g / x, lambda g, x: g * x, [(4,)], "pos"),
    "division: denominator gradient sign": (
        lambda x, y: x / y, lambda g, x, y: (g / y, -g * x / y**2), lambda g, x, y: (g / y, g * x / y**2),
        [(3,), (3,)], "pos"),
    "power rule exponent not reduced": (
        lambda x: x**3, lambda g, x: 3 * g * x**2, lambda g, x: 3 * g * x**3, [(4,)], "any"),
    "max sends the gradient to the argmin": (
        lambda x: x.max(-1), lambda g, x: one_hot_at(x, np.argmax, g), lambda g, x: one_hot_at(x, np.argmin, g),
        [(3, 4)], "any"),
    "product rule with swapped factors": (
        lambda x, y: x * y, lambda g, x, y: (g * y, g * x), lambda g, x, y: (g * x, g * y), [(3,), (3,)], "any"),
    "normalisation missing the projection": (
        lambda x: x / np.linalg.norm(x),
        lambda g, x: (g - (g @ x) * x / (x @ x)) / np.linalg.norm(x), lambda g, x: g / np.linalg.norm(x),
        [(4,)], "any"),
    "row sum broadcast along the wrong axis": (
        lambda x: x.sum(1), lambda g, x: np.broadcast_to(g[:, None], x.shape),
        lambda g, x: np.broadcast_to(g[None, :], x.shape), [(4, 4)], "any"),
    "variance missing the factor 2": (
        lambda x: x.var(), lambda g, x: g * 2 * (x - x.mean()) / x.size, lambda g, x: g * (x - x.mean()) / x.size,
        [(6,)], "any"),
    "flip gradient not flipped back": (lambda x: x[::-1], lambda g, x: g[::-1], lambda g, x: g, [(5,)], "any"),
    "slice gradient padded at the wrong end": (
        lambda x: x[1:], lambda g, x: np.concatenate([[0.0], g]), lambda g, x: np.concatenate([g, [0.0]]),
        [(5,)], "any"),
    "relu mask with the wrong threshold": (
        lambda x: np.maximum(x, 0), lambda g, x: g * (x > 0), lambda g, x: g * (x > -0.5), [RELU_X], "fixed"),
    "norm derivative divided by the squared norm": (
        lambda x: np.linalg.norm(x), lambda g, x: g * x / np.linalg.norm(x), lambda g, x: g * x / (x @ x),
        [(5,)], "any"),
    "logsumexp gradient not normalised": (
        lambda x: np.log(np.exp(x).sum()), lambda g, x: g * softmax(x), lambda g, x: g * np.exp(x), [(5,)], "any"),
    "clamp gradient without the mask": (
        lambda x: np.clip(x, -1, 1), lambda g, x: g * (np.abs(x) <= 1), lambda g, x: g, [CLAMP_X], "fixed"),
    "bilinear form with a transposed outer product": (
        lambda x, a, y: x @ a @ y, lambda g, x, a, y: (g * a @ y, g * np.outer(x, y), g * a.T @ x),
        lambda g, x, a, y: (g * a @ y, g * np.outer(y, x), g * a.T @ x), [(3,), (3, 3), (3,)], "any"),
    "product gradient as out / x fails at a zero": (
        np.prod, lambda g, x: g * np.array([np.prod(np.delete(x, i)) for i in range(x.size)]),
        lambda g, x: g * np.prod(x) / x, [PROD_X], "fixed"),
}


def make_inputs(specs, domain, rng, dtype=np.float64):
    inputs = []
    for spec in specs:
        if isinstance(spec, np.ndarray):
            data = spec.copy()
        else:
            data = rng.standard_normal(spec)
            if domain == "pos":
                data = np.abs(data) + 0.5
        inputs.append(autograd.tensor(data.astype(dtype), requires_grad=True))
    return tuple(inputs)


def wrong_entries(forward, correct, buggy, inputs):
    """Per input, the (output flat row, input flat column) entries where the buggy Jacobian differs from the
    correct one: computed from the two backward functions alone, independently of any finite difference."""
    good = analytical_jacobian(custom("Good", forward, correct), inputs)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        bad = analytical_jacobian(custom("Bad", forward, buggy), inputs)
    return [set(zip(*np.nonzero(~np.isclose(g[0], b[0], atol=1e-9, equal_nan=False)))) for g, b in zip(good, bad)]


@pytest.mark.parametrize("name", list(CATALOGUE))
@pytest.mark.parametrize("fast_mode", [False, True], ids=["full", "fast"])
def test_every_wrong_backward_is_caught_at_the_right_input_and_element(name, fast_mode):
    forward, correct, buggy, specs, domain = CATALOGUE[name]
    inputs = make_inputs(specs, domain, np.random.default_rng(1))
    expected = wrong_entries(forward, correct, buggy, inputs)
    wrong_inputs = {i for i, entries in enumerate(expected) if entries}
    assert wrong_inputs, "the catalogue entry must actually be wrong"
    assert gradcheck(custom("Good", forward, correct), inputs, fast_mode=fast_mode)
    with np.errstate(all="ignore"), pytest.raises(GradcheckError) as info:
        gradcheck(custom("Bad", forward, buggy), inputs, fast_mode=fast_mode)
    report = info.value.report
    assert {f.input for f in report.failures} <= wrong_inputs
    assert report.failures[0].input in wrong_inputs
    out_shape = report.output_shapes[0]
    for failure in report.failures:
        assert failure.entries, str(report)
        shape = inputs[failure.input].shape
        for m in failure.entries:  # every reported entry really is wrong
            row = np.ravel_multi_index(m.output_element, out_shape) if out_shape else 0
            col = np.ravel_multi_index(m.element, shape) if shape else 0
            assert (row, col) in expected[failure.input], (m, str(report))
        if not fast_mode:  # full mode counts exactly
            assert failure.exact and failure.failed == len(expected[failure.input])
            assert failure.total == int(np.prod(out_shape)) * int(np.prod(shape))
    if not fast_mode:
        assert {f.input for f in report.failures} == wrong_inputs
    assert "gradcheck failed" in str(report)


def test_catalogue_has_at_least_20_bugs():
    assert len(CATALOGUE) >= 20


# ---------------------------------------------------------------------------------------------------------------
# Correct functions: no false failures
# ---------------------------------------------------------------------------------------------------------------
A = autograd
CORRECT = {
    "add": (lambda x, y: x + y, [(2, 3), (2, 3)], "any"),
    "add broadcast": (lambda x, y: x + y, [(3, 1), (1, 4)], "any"),
    "sub": (lambda x, y: x - y, [(3,), (2, 3)], "any"),
    "mul": (lambda x, y: x * y, [(2, 3), (3,)], "any"),
    "div": (lambda x, y: x / y, [(2, 3), (3,)], "pos"),
    "pow tensor": (lambda x, y: x**y, [(4,), (4,)], "pos"),
    "pow scalar": (lambda x: x**3, [(4,)], "any"),
    "neg": (lambda x: -x, [(4,)], "any"),
    "exp": (A.exp, [(2, 2)], "any"),
    "log": (A.log, [(4,)], "pos"),
    "log1p": (A.log1p, [(4,)], "pos"),
    "expm1": (A.expm1, [(4,)], "any"),
    "sqrt": (A.sqrt, [(4,)], "pos"),
    "rsqrt": (A.rsqrt, [(4,)], "pos"),
    "reciprocal": (A.reciprocal, [(4,)], "pos"),
    "square": (A.square, [(4,)], "any"),
    "sin": (A.sin, [(4,)], "any"),
    "cos": (A.cos, [(4,)], "any"),
    "tanh": (A.tanh, [(4,)], "any"),
    "sigmoid": (A.sigmoid, [(4,)], "any"),
    "relu": (A.relu, [(6,)], "any"),
    "abs": (A.abs, [(6,)], "any"),
    "erf": (A.erf, [(4,)], "any"),
    "clamp": (lambda x: A.clamp(x, -0.5, 0.5), [(6,)], "any"),
    "maximum": (A.maximum, [(5,), (5,)], "any"),
    "minimum": (A.minimum, [(5,), (5,)], "any"),
    "where": (lambda x, y: A.where(x > 0, x, y), [(5,), (5,)], "any"),
    "sum dim": (lambda x: x.sum(1), [(2, 3)], "any"),
    "sum keepdim": (lambda x: x.sum(0, keepdim=True), [(2, 3)], "any"),
    "mean": (lambda x: x.mean((0, 2)), [(2, 2, 2)], "any"),
    "var": (lambda x: x.var(1), [(2, 4)], "any"),
    "std": (lambda x: x.std(), [(5,)], "any"),
    "amax": (lambda x: x.amax(1), [(2, 4)], "any"),
    "amin": (lambda x: x.amin(0), [(3, 2)], "any"),
    "max dim": (lambda x: x.max(1).values, [(2, 4)], "any"),
    "max all": (lambda x: x.max(), [(2, 3)], "any"),
    "prod": (lambda x: x.prod(1), [(2, 3)], "any"),
    "logsumexp": (lambda x: x.logsumexp(1), [(2, 4)], "any"),
    "softmax": (lambda x: x.softmax(-1), [(2, 4)], "any"),
    "log_softmax": (lambda x: x.log_softmax(0), [(3, 2)], "any"),
    "norm": (lambda x: x.norm(), [(4,)], "any"),
    "reshape flatten": (lambda x: x.reshape(3, 2).flatten() * 1.5, [(2, 3)], "any"),
    "squeeze unsqueeze": (lambda x: x.unsqueeze(0).squeeze(1), [(2, 1, 3)], "any"),
    "transpose permute": (lambda x: x.transpose(0, 2).permute(1, 0, 2) * 2, [(2, 3, 2)], "any"),
    "expand": (lambda x: x.expand(3, 2, 4) * A.tensor(np.arange(24.0).reshape(3, 2, 4)), [(2, 1)], "any"),
    "repeat": (lambda x: x.repeat(2, 3) ** 2, [(2, 2)], "any"),
    "flip": (lambda x: x.flip(0) * A.tensor(np.arange(3.0)[:, None]), [(3, 2)], "any"),
    "pad": (lambda x: A.pad(x, ((1, 0), (0, 2))) ** 2, [(2, 2)], "any"),
    "cat": (lambda x, y: A.cat([x, y * 2], 1), [(2, 2), (2, 3)], "any"),
    "stack": (lambda x, y: A.stack([x, y], 0) ** 2, [(3,), (3,)], "any"),
    "split": (lambda x: x.split(2, 1)[1] * 3, [(2, 5)], "any"),
    "getitem basic": (lambda x: x[1:, ::-2] ** 2, [(3, 4)], "any"),
    "getitem repeated ints": (lambda x: x[[0, 2, 2, 0]] ** 2, [(3, 2)], "any"),
    "getitem mask": (lambda x: x[x > 0] * 2, [(6,)], "any"),
    "gather": (lambda x: x.gather(1, A.tensor(np.array([[0, 0], [2, 1]]))), [(2, 3)], "any"),
    "matmul batch": (lambda x, y: x @ y, [(2, 2, 3), (3, 2)], "any"),
    "matmul vector": (lambda x, y: x @ y, [(3,), (3, 2)], "any"),
    "dot": (A.dot, [(4,), (4,)], "any"),
    "einsum": (lambda x, y: A.einsum("ij,jk->ik", x, y), [(2, 3), (3, 2)], "any"),
    "mlp": (lambda x, w1, w2: ((x @ w1).tanh() @ w2).log_softmax(-1), [(2, 3), (3, 4), (4, 2)], "any"),
    "attention": (lambda q, k, v: (q @ k.T / math.sqrt(3)).softmax(-1) @ v, [(2, 3), (4, 3), (4, 2)], "any"),
    "mse": (lambda x, y: ((x - y) ** 2).mean(), [(5,), (5,)], "any"),
    "layernorm": (lambda x: (x - x.mean(-1, keepdim=True)) / (x.var(-1, keepdim=True, unbiased=False) + 1e-5)
                  .sqrt(), [(2, 4)], "any"),
    "two outputs": (lambda x: (x.sin(), x.cos().sum()), [(3,)], "any"),
    "custom softplus": (lambda x: Softplus.apply(x) * 2, [(4,)], "any"),
    "custom two outputs": (lambda x, y: MulAdd.apply(x, y), [(3,), (3,)], "any"),
}


def test_at_least_50_correct_functions():
    assert len(CORRECT) + len(CATALOGUE) >= 50 and len(CORRECT) >= 50


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", list(CORRECT))
def test_correct_functions_pass_without_false_failures(name, dtype):
    fn, specs, domain = CORRECT[name]
    for seed in range(3):
        inputs = make_inputs(specs, domain, np.random.default_rng(seed), dtype)
        before = [x.data.copy() for x in inputs]
        with warnings.catch_warnings():
            warnings.simplefilter("error", GradcheckWarning)  # no caveat either
            assert gradcheck(fn, inputs)
            assert gradcheck(fn, inputs, fast_mode=True, seed=seed)
        for x, b in zip(inputs, before):  # the inputs come back untouched, dtype included
            assert x.dtype == dtype and np.array_equal(x.data, b)


@pytest.mark.parametrize("name", ["mlp", "attention", "softmax", "custom softplus", "prod", "layernorm"])
def test_correct_functions_pass_gradgradcheck(name):
    fn, specs, domain = CORRECT[name]
    inputs = make_inputs(specs, domain, np.random.default_rng(0))
    assert gradgradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs, fast_mode=True)


def test_fast_mode_checks_a_whole_small_network():
    rng = np.random.default_rng(0)
    params = {name: autograd.tensor(rng.standard_normal(shape) * 0.5, requires_grad=True)
              for name, shape in [("w1", (16, 32)), ("b1", (32,)), ("w2", (32, 10)), ("b2", (10,))]}
    x = autograd.tensor(rng.standard_normal((8, 16)).astype(np.float32))
    y = rng.integers(0, 10, 8)

    def loss(w1, b1, w2, b2):
        return -(((x @ w1 + b1).tanh() @ w2 + b2).log_softmax(-1))[np.arange(8), y].mean()

    assert gradcheck(loss, params, fast_mode=True)


# ---------------------------------------------------------------------------------------------------------------
# Kinks
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [A.relu, A.abs, lambda x: A.maximum(x, A.tensor(np.zeros(4))),
                                lambda x: x.max(), lambda x: A.clamp(x, 0.0, 1.0)],
                         ids=["relu", "abs", "maximum", "max tie", "clamp boundary"])
@pytest.mark.parametrize("fast_mode", [False, True], ids=["full", "fast"])
def test_kinks_are_reported_as_non_differentiable_points_not_wrong_gradients(fn, fast_mode):
    x = autograd.tensor(np.array([0.0, 0.0, -1.0, -2.0]), requires_grad=True)
    with pytest.warns(GradcheckWarning, match="non-differentiable points") as record:
        assert gradcheck(fn, x, fast_mode=fast_mode)
    assert "gradcheck passed" in str(record[0].message)


def test_kink_report_names_the_element_and_one_sided_derivatives():
    x = autograd.tensor(np.array([1.0, 0.0, -1.0]), requires_grad=True)
    with pytest.warns(GradcheckWarning) as record:
        gradcheck(A.abs, x, names=["x"])
    text = str(record[0].message)
    assert "d out[1] / d x[1]: left derivative -1, right derivative 1, analytical 0" in text


def test_wrong_gradient_at_a_kink_is_still_a_failure():
    relu_five = custom("ReluFive", lambda x: np.maximum(x, 0), lambda g, x: g * np.where(x == 0, 5.0, x > 0))
    x = autograd.tensor(np.array([0.0, 1.0, -1.0]), requires_grad=True)
    with pytest.raises(GradcheckError, match=r"non-differentiable point, one-sided derivatives 0 and 1") as info:
        gradcheck(relu_five, x)
    assert info.value.report.failures[0].entries[0].element == (0,)


def test_element_within_eps_of_a_kink_is_not_a_failure():
    x = autograd.tensor(np.array([3e-7, -4e-7, 0.5]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GradcheckWarning)
        assert gradcheck(A.relu, x) and gradcheck(A.abs, x)


def test_nudge_moves_inputs_off_kinks_and_checks_them():
    x = autograd.tensor(np.array([0.0, 2.0, 0.0]), requires_grad=True)
    with pytest.warns(GradcheckWarning, match=r"nudged x\[0\] from 0 to 1.6e-05") as record:
        assert gradcheck(A.relu, x, nudge=True, names=["x"])
    assert "non-differentiable points (" not in str(record[0].message)
    assert np.array_equal(x.data, [0.0, 2.0, 0.0])  # the caller's tensor is unchanged


# ---------------------------------------------------------------------------------------------------------------
# float32, names, the report
# ---------------------------------------------------------------------------------------------------------------
def test_float32_inputs_are_checked_in_float64():
    x = autograd.tensor(np.array([0.1, 1.7, -3.2], dtype=np.float32), requires_grad=True)
    # central differences in float32 with eps=1e-6 would be noise; the check runs on float64 copies
    assert gradcheck(lambda t: (t.sin() * t.exp()).sum() * 1000, x)
    assert x.dtype == np.float32


def test_model_parameters_in_a_closure_are_switched_to_float64_too():
    w = autograd.tensor(np.random.default_rng(0).standard_normal((3, 3)).astype(np.float32), requires_grad=True)
    x = autograd.tensor(np.ones((2, 3), dtype=np.float32))
    assert gradcheck(lambda w_: ((x @ w).tanh() ** 2).sum(), (w,))  # fn reads w from its closure
    assert w.dtype == np.float32


def test_function_that_casts_to_float32_is_reported():
    x = autograd.tensor(np.array([0.3, -1.2]), requires_grad=True)
    with pytest.warns(GradcheckWarning, match="computes in float32"):
        assert gradcheck(lambda t: (t.float() ** 3).sum(), x)


def test_names_from_argument_dict_and_labels():
    bad = custom("Bad", lambda x, y: x * y, lambda g, x, y: (g * y, -g * x))
    x, y = autograd.tensor(np.array([1.0, 2.0]), requires_grad=True), autograd.tensor(np.array([3.0, 4.0]),
                                                                                       requires_grad=True)
    with pytest.raises(GradcheckError, match=r"(?s)input 1 'bias'.*d out\[0\] / d bias\[0\]"):
        gradcheck(bad, (x, y), names=["weight", "bias"])
    with pytest.raises(GradcheckError, match=r"input 1 'b' \(shape \(2,\)\)"):
        gradcheck(lambda a, b: bad(a, b), {"a": x, "b": y})
    y.label = "yy"
    with pytest.raises(GradcheckError, match=r"d yy\[1\]"):
        gradcheck(bad, (x, y))


def test_report_fits_a_screen_for_a_large_input():
    bad = custom("BadExp", np.exp, lambda g, x: 1.01 * g * np.exp(x))
    x = autograd.tensor(np.random.default_rng(0).standard_normal((40, 40)) * 0.1, requires_grad=True)
    with pytest.raises(GradcheckError) as info:
        gradcheck(bad, x, fast_mode=True)
    text = str(info.value)
    assert len(text.splitlines()) <= 25 and max(len(line) for line in text.splitlines()) <= 160
    assert "of 2560000 Jacobian entries disagree" in text
    assert "analytical = 1.01 x numerical" in text


def test_report_counts_and_hints_in_full_mode():
    bad = custom("BadSin", np.sin, lambda g, x: 2 * g * np.cos(x))
    x = autograd.tensor(np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]), requires_grad=True)
    with pytest.raises(GradcheckError) as info:
        gradcheck(bad, x, names=["x"])
    text = str(info.value)
    assert "input 0 'x' (shape (2, 3)) -> output 0 (shape (2, 3)): 6 of 36 Jacobian entries disagree" in text
    assert "d out[0, 0] / d x[0, 0]" in text and "numerical    0.995004  analytical     1.99001" in text
    assert "abs err 0.995  rel err 1  tol 0.00101" in text
    assert "analytical = 2 x numerical on every disagreeing entry" in text


def test_hint_for_a_gradient_that_never_arrives():
    x = autograd.tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(GradcheckError, match="this output does not require grad"):
        gradcheck(lambda t: autograd.tensor(t.data ** 2) + 0 * t.detach(), x)
    with pytest.raises(GradcheckError, match="exactly zero where the numerical one is not"):
        gradcheck(lambda t: autograd.tensor(t.data ** 2) + 0 * t, x)


def test_no_input_requiring_grad_is_an_error():
    with pytest.raises(ValueError, match="no input requires grad"):
        gradcheck(lambda t: t * 2, autograd.tensor(np.array([1.0])))


def test_raise_exception_false_returns_false():
    bad = custom("Bad", np.exp, lambda g, x: -g * np.exp(x))
    x = autograd.tensor(np.array([1.0]), requires_grad=True)
    assert gradcheck(bad, x, raise_exception=False) is False


def test_gradgradcheck_catches_a_wrong_second_derivative():
    class DetachedCos(Function):
        """First order right; the backward detaches x, so the second derivative is lost."""

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.sin()

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x.detach().cos()

    x = autograd.tensor(np.array([0.3, 1.1]), requires_grad=True)
    assert gradcheck(DetachedCos.apply, x)
    for fast_mode in (False, True):
        with pytest.raises(GradcheckError, match=r"(?s)gradgradcheck failed.*input 0.*-> gradient of input 0") as info:
            gradgradcheck(DetachedCos.apply, x, fast_mode=fast_mode)
        assert info.value.report.failures[0].input == 0


def test_numerical_and_analytical_jacobian_layout_and_inputs_untouched():
    x = autograd.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    y = autograd.tensor(np.array([3.0]), requires_grad=False)
    num = numerical_jacobian(lambda a, b: (a * a * b, a.sum()), (x, y))
    ana = analytical_jacobian(lambda a, b: (a * a * b, a.sum()), (x, y))
    assert num[1] is None and ana[1] is None
    assert num[0][0].shape == (2, 2) and num[0][1].shape == (1, 2)
    assert np.allclose(num[0][0], np.diag([6.0, 12.0]), atol=1e-6) and np.allclose(ana[0][0], np.diag([6.0, 12.0]))
    assert x.dtype == np.float32 and np.array_equal(x.data, [1.0, 2.0])


def test_non_float_and_non_tensor_arguments_pass_through():
    x = autograd.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    index = autograd.tensor(np.array([[1], [0]]))
    assert gradcheck(lambda t, i, k: t.gather(1, i) * k, (x, index, 2.5))


def test_fast_mode_is_much_cheaper_than_full_mode():
    calls = {"n": 0}

    def fn(t):
        calls["n"] += 1
        return (t.tanh() ** 2).sum()

    x = autograd.tensor(np.random.default_rng(0).standard_normal(200), requires_grad=True)
    gradcheck(fn, x, fast_mode=True)
    fast_calls, calls["n"] = calls["n"], 0
    gradcheck(fn, x)
    assert fast_calls <= 4 and calls["n"] >= 400
