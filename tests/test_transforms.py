"""autograd.functional: vjp, jvp, jacobian, hessian, hvp, vhp against finite differences and PyTorch."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd
from autograd import functional as AF
from autograd.gradcheck import numerical_jacobian

UNARY = [autograd.tanh, autograd.sin, autograd.exp, lambda t: t * t, autograd.sigmoid, lambda t: t.softmax(-1),
         lambda t: t[::-1] * 2]


def random_function(codes):
    """f(x, y) -> (tensor of shape (3,), scalar): a composition picked by `codes`."""
    def f(x, y):
        h = x
        for c in codes:
            h = UNARY[c % len(UNARY)](h) * (1 + 0.1 * c) + y[: h.shape[0]] * 0.5
        return h, (h * y[:3]).sum() + (x ** 2).sum()
    return f


def t64(shape, rng, requires_grad=False):
    return autograd.tensor(rng.standard_normal(shape) * 0.7, requires_grad=requires_grad)


def fd_jacobian(f, inputs):
    """Finite-difference Jacobian blocks [output][input] shaped out.shape + in.shape."""
    copies = [autograd.tensor(x.data.copy(), requires_grad=True) for x in inputs]
    outs = f(*copies)
    outs = outs if isinstance(outs, tuple) else (outs,)
    num = numerical_jacobian(f, copies)
    return [[num[j][k].reshape(o.shape + x.shape) for j, x in enumerate(inputs)] for k, o in enumerate(outs)]


codes = st.lists(st.integers(0, 20), min_size=1, max_size=4)


@given(codes, st.integers(0, 2**16))
def test_jacobian_vjp_jvp_match_finite_differences(cs, seed):
    rng = np.random.default_rng(seed)
    f = random_function(cs)
    x, y = t64(3, rng), t64(4, rng)
    fd = fd_jacobian(f, (x, y))
    jac = AF.jacobian(f, (x, y))
    jac_fwd = AF.jacobian(f, (x, y), strategy="forward-mode")
    for k in range(2):
        for j in range(2):
            assert np.allclose(jac[k][j].data, fd[k][j], atol=1e-5)
            assert np.allclose(jac_fwd[k][j].data, fd[k][j], atol=1e-5)
    v_out = (t64(3, rng), t64((), rng))
    v_in = (t64(3, rng), t64(4, rng))
    out, vj = AF.vjp(f, (x, y), v_out)
    assert np.allclose(out[0].data, f(x, y)[0].data)
    for j in range(2):
        expected = sum(np.tensordot(v.data, fd[k][j], axes=v.ndim) for k, v in enumerate(v_out))
        assert np.allclose(vj[j].data, expected, atol=1e-5)
    _, jv = AF.jvp(f, (x, y), v_in)
    for k in range(2):
        expected = sum(np.tensordot(fd[k][j], v.data, axes=v.ndim) for j, v in enumerate(v_in))
        assert np.allclose(jv[k].data, expected, atol=1e-5)


@given(codes, st.integers(0, 2**16))
def test_hessian_hvp_vhp_match_finite_differences(cs, seed):
    rng = np.random.default_rng(seed)
    f = random_function(cs)
    scalar = lambda x, y: f(x, y)[1]
    x, y = t64(3, rng), t64(4, rng)
    # the Hessian by finite differences of the (reverse-mode) gradient
    grad_fn = lambda a, b: autograd.grad(scalar(a, b), (a, b), create_graph=True)
    fd = fd_jacobian(grad_fn, (x, y))
    hess = AF.hessian(scalar, (x, y))
    for i in range(2):
        for j in range(2):
            assert np.allclose(hess[i][j].data, fd[i][j], atol=1e-5)
    v = (t64(3, rng), t64(4, rng))
    _, hv = AF.hvp(scalar, (x, y), v)
    _, vh = AF.vhp(scalar, (x, y), v)
    for i in range(2):
        expected = sum(np.tensordot(fd[i][j], v[j].data, axes=1) for j in range(2))
        assert np.allclose(hv[i].data, expected, atol=1e-5) and np.allclose(vh[i].data, expected, atol=1e-5)


def test_structures_single_and_tuple():
    x = autograd.tensor([1.0, 2.0, 3.0])
    assert AF.jacobian(lambda t: t * 2, x).shape == (3, 3)
    assert AF.jacobian(lambda t: t.sum(), x).shape == (3,)
    both = AF.jacobian(lambda t: (t * 2, t.sum()), x)
    assert isinstance(both, tuple) and both[0].shape == (3, 3) and both[1].shape == (3,)
    m = autograd.tensor(np.ones((2, 3)))
    nested = AF.jacobian(lambda a, b: (a @ b, b.sum()), (m, x))
    assert nested[0][0].shape == (2, 2, 3) and nested[0][1].shape == (2, 3) and nested[1][1].shape == (3,)
    assert AF.hessian(lambda t: (t ** 3).sum(), x).shape == (3, 3)
    h = AF.hessian(lambda a, b: (a.sum(1) * b[:2]).sum(), (m, x))
    assert h[0][1].shape == (2, 3, 3) and h[1][0].shape == (3, 2, 3)
    out, g = AF.vjp(lambda t: (t ** 2).sum(), x)
    assert out.shape == () and np.allclose(g.data, 2 * x.data)
    out, t = AF.jvp(lambda s: s * 3, autograd.tensor(2.0))
    assert np.allclose(t.data, 3.0)


def test_results_are_detached_unless_create_graph():
    x = autograd.tensor(np.array([0.5, -1.0]), requires_grad=True)
    out, g = AF.vjp(lambda t: t.tanh().sum(), x)
    assert not out.requires_grad and not g.requires_grad
    out, g = AF.vjp(lambda t: t.tanh().sum(), x, create_graph=True)
    assert out.requires_grad and g.requires_grad
    assert not AF.jacobian(lambda t: t.exp(), x).requires_grad
    assert AF.jacobian(lambda t: t.exp(), x, create_graph=True).requires_grad


def test_create_graph_results_are_differentiable_and_right():
    x = autograd.tensor(np.array([0.3, -0.8, 1.2]), requires_grad=True)
    v = autograd.tensor(np.array([1.0, 2.0, -1.0]))
    f = lambda t: (t.sin() * t).sum()
    assert autograd.gradcheck(lambda t: AF.vjp(lambda s: s.sin() * s, t, v, create_graph=True)[1], x)
    assert autograd.gradcheck(lambda t: AF.jvp(lambda s: s.sin() * s, t, v, create_graph=True)[1], x)
    assert autograd.gradcheck(lambda t: AF.hvp(f, t, v, create_graph=True)[1], x)
    assert autograd.gradcheck(lambda t: AF.jacobian(lambda s: s.exp() * s, t, create_graph=True), x)
    assert autograd.gradcheck(lambda t: AF.hessian(f, t, create_graph=True), x)


def test_strict_mode_errors():
    x = autograd.tensor(np.array([1.0, 2.0]))
    y = autograd.tensor(np.array([3.0]))
    with pytest.raises(RuntimeError, match="Output 0 of the user-provided function does not require gradients"):
        AF.vjp(lambda t: autograd.tensor([1.0, 2.0]), x, x, strict=True)
    with pytest.raises(RuntimeError, match="independent of input 1"):
        AF.vjp(lambda a, b: a * 2, (x, y), x, strict=True)
    with pytest.raises(RuntimeError, match="Output 0 of the user-provided function is independent of input 1"):
        AF.jacobian(lambda a, b: a * 2, (x, y), strict=True)
    with pytest.raises(RuntimeError, match="independent of the input"):
        AF.hessian(lambda t: (t * 2).sum(), x, strict=True)
    # without strict: zeros
    assert np.array_equal(AF.jacobian(lambda a, b: a * 2, (x, y))[1].data, np.zeros((2, 1)))
    assert np.array_equal(AF.vjp(lambda a, b: a * 2, (x, y), x)[1][1].data, [0.0])


def test_argument_errors():
    x = autograd.tensor(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="must be either a Tensor or a tuple of Tensors"):
        AF.vjp(lambda t: t, [1.0, 2.0], x)
    with pytest.raises(RuntimeError, match="v has invalid size: should be"):
        AF.vjp(lambda t: t * 2, x, autograd.tensor([1.0]))
    with pytest.raises(RuntimeError, match="v can only be None"):
        AF.vjp(lambda t: t * 2, x)
    with pytest.raises(RuntimeError, match="v is a tuple of invalid length"):
        AF.jvp(lambda a, b: a * b, (x, x), (x,))
    with pytest.raises(RuntimeError, match="should contain a single element"):
        AF.hessian(lambda t: t * 2, x)
    with pytest.raises(ValueError, match="strategy"):
        AF.jacobian(lambda t: t, x, strategy="sideways")


def test_matches_torch():
    torch = pytest.importorskip("torch")
    import torch.autograd.functional as TF

    rng = np.random.default_rng(3)
    xa, ya, va, wa = rng.standard_normal(3), rng.standard_normal((2, 3)), rng.standard_normal(3), \
        rng.standard_normal((2, 3))

    def f(x, y):
        return (x * y).tanh(), (x.exp() * y).sum()

    def g(x, y):
        return (x.sin() * y).sum() * x.sum()

    ours = (autograd.tensor(xa), autograd.tensor(ya))
    theirs = (torch.tensor(xa), torch.tensor(ya))
    vs = (autograd.tensor(va), autograd.tensor(wa))
    tvs = (torch.tensor(va), torch.tensor(wa))
    for a, b in zip(AF.jacobian(f, ours), TF.jacobian(f, theirs)):
        for c, d in zip(a, b):
            assert np.allclose(c.data, d.numpy())
    for a, b in zip(AF.hessian(g, ours), TF.hessian(g, theirs)):
        for c, d in zip(a, b):
            assert np.allclose(c.data, d.numpy())
    for name in ("hvp", "vhp"):
        _, ours_r = getattr(AF, name)(g, ours, vs)
        _, theirs_r = getattr(TF, name)(g, theirs, tvs)
        for c, d in zip(ours_r, theirs_r):
            assert np.allclose(c.data, d.numpy())
    _, ours_r = AF.jvp(f, ours, vs)
    _, theirs_r = TF.jvp(f, theirs, tvs)
    for c, d in zip(ours_r, theirs_r):
        assert np.allclose(c.data, d.numpy())
