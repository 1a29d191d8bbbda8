"""Graph networks: autograd.index_add against PyTorch's, and nn.GCNConv against PyTorch Geometric's definitions
(written out here in numpy, from PyG's gcn_norm and add_remaining_self_loops: PyG itself is not a dependency), on
edge indices with weights, repeated edges, self loops and isolated nodes, and on dense adjacencies; gradcheck;
message passing that scales with the edges.
"""

from __future__ import annotations

import numpy as np
import pytest
from nn_helpers import check_module

import autograd
import nn
from nn.graph import gcn_norm


# ---------------------------------------------------------------------------------------------------------------
# index_add
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("shape", "dim", "index", "alpha"), [
    ((5,), 0, [0, 4, 4, 1], 1),
    ((3, 4), 1, [3, 3, 0], 2.5),
    ((3, 4, 2), -2, [1, 1, 1, 1, 2], -1),
    ((2, 3), 0, [], 1),
    ((), 0, [0], 3),
])
def test_index_add_matches_pytorch(shape, dim, index, alpha):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    src_shape = () if not shape else shape[:dim % len(shape)] + (len(index),) + shape[dim % len(shape) + 1:]
    src = rng.standard_normal(src_shape)
    ours_x, ours_src = autograd.tensor(x, requires_grad=True), autograd.tensor(src, requires_grad=True)
    their_x, their_src = torch.tensor(x, requires_grad=True), torch.tensor(src, requires_grad=True)
    out = ours_x.index_add(dim, autograd.tensor(index, dtype=autograd.int64), ours_src, alpha=alpha)
    expected = their_x.index_add(dim, torch.tensor(index, dtype=torch.long), their_src, alpha=alpha)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), atol=1e-14)
    g = rng.standard_normal(out.shape)
    out.backward(autograd.tensor(g))
    expected.backward(torch.tensor(g))
    np.testing.assert_allclose(ours_x.grad.data, their_x.grad.numpy())
    np.testing.assert_allclose(ours_src.grad.data, their_src.grad.numpy(), atol=1e-14)
    functional = autograd.index_add(x, dim, np.array(index, dtype=np.int64), src, alpha=alpha)
    np.testing.assert_allclose(functional.data, out.data)


def test_index_add_errors_say_what_is_wrong():
    x = autograd.zeros(3, 2)
    with pytest.raises(IndexError, match="index 3 is out of range for dim 0 of size 3"):
        x.index_add(0, autograd.tensor([0, 3]), autograd.ones(2, 2))
    with pytest.raises(IndexError, match="index -1 is out of range"):
        x.index_add(0, autograd.tensor([-1, 0]), autograd.ones(2, 2))
    with pytest.raises(ValueError, match=r"source of shape \(2, 3\) does not fit the input of shape \(3, 2\) with 2 "
                                         r"indices along dim 0 \(expected a source of shape \(2, 2\)\)"):
        x.index_add(0, autograd.tensor([0, 1]), autograd.ones(2, 3))
    with pytest.raises(TypeError, match="integer tensor"):
        x.index_add(0, autograd.tensor([0.0]), autograd.ones(1, 2))
    with pytest.raises(IndexError, match="must be a vector"):
        x.index_add(0, autograd.tensor([[0]]), autograd.ones(1, 2))
    with pytest.raises(TypeError, match="same dtype"):
        x.index_add(0, autograd.tensor([0]), autograd.ones(1, 2, dtype=autograd.float64))


# ---------------------------------------------------------------------------------------------------------------
# GCNConv
# ---------------------------------------------------------------------------------------------------------------
def pyg_reference(x, edge_index, edge_weight, weight, bias, num_nodes, improved=False, self_loops=True,
                  normalize=True):
    """PyG's GCNConv as dense linear algebra: A[t, s] sums the weights of the edges s -> t; add_remaining_self_loops
    replaces a node's self loops by one keeping the weight of the last (or 1, 2 when improved); degrees are the
    row sums (edges into a node); D^-1/2 A D^-1/2 (x W^T) + b with deg^-1/2 = 0 for isolated nodes."""
    n = num_nodes
    a = np.zeros((n, n))
    loops = np.full(n, 2.0 if improved else 1.0)
    for (s, t), w in zip(edge_index.T, edge_weight):
        if s == t and self_loops:
            loops[s] = w
        else:
            a[t, s] += w
    if self_loops:
        a[np.arange(n), np.arange(n)] += loops
    if normalize:
        degree = a.sum(1)
        scale = np.where(degree > 0, np.abs(degree) ** -0.5, 0.0)
        a = scale[:, None] * a * scale[None, :]
    return a @ (x @ weight.T) + bias


# duplicated edge 0->1, node 3 with two self loops, node 2 with one, node 5 isolated, a one-way edge 4->0
EDGES = np.array([[0, 1, 1, 2, 3, 3, 0, 2, 2, 4],
                  [1, 0, 2, 1, 3, 3, 1, 0, 2, 0]])


def _layer(**options):
    autograd.manual_seed(0)
    conv = nn.GCNConv(4, 3, dtype="float64", **options)
    if conv.bias is not None:
        conv.bias.data[...] = np.random.default_rng(1).standard_normal(3)
    return conv


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("improved", [False, True])
def test_gcn_conv_matches_pyg_on_an_edge_index(improved, weighted):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 4))
    weights = rng.uniform(0.5, 2.0, EDGES.shape[1]) if weighted else np.ones(EDGES.shape[1])
    conv = _layer(improved=improved)
    out = conv(autograd.tensor(x), autograd.tensor(EDGES), autograd.tensor(weights) if weighted else None)
    expected = pyg_reference(x, EDGES, weights, conv.lin.weight.data, conv.bias.data, 6, improved)
    np.testing.assert_allclose(out.data, expected, atol=1e-13)


def test_gcn_conv_without_normalisation_sums_the_messages():
    rng = np.random.default_rng(3)
    x, weights = rng.standard_normal((6, 4)), rng.uniform(0.5, 2.0, EDGES.shape[1])
    conv = _layer(normalize=False, bias=False)
    out = conv(autograd.tensor(x), autograd.tensor(EDGES), autograd.tensor(weights))
    expected = pyg_reference(x, EDGES, weights, conv.lin.weight.data, 0.0, 6, self_loops=False, normalize=False)
    np.testing.assert_allclose(out.data, expected, atol=1e-13)
    with pytest.raises(ValueError, match="add_self_loops=True needs normalize=True"):
        nn.GCNConv(4, 3, normalize=False, add_self_loops=True)


def test_gcn_norm_returns_pyg_edges_and_weights():
    edge_index, weight = gcn_norm(autograd.tensor(EDGES), num_nodes=6, dtype="float64")
    no_loops = EDGES[:, EDGES[0] != EDGES[1]]
    np.testing.assert_array_equal(edge_index, np.concatenate([no_loops, np.tile(np.arange(6), (2, 1))], 1))
    degree = np.bincount(edge_index[1], minlength=6).astype(float)
    np.testing.assert_allclose(weight.data, degree[edge_index[0]] ** -0.5 * degree[edge_index[1]] ** -0.5)


def test_a_dense_adjacency_gives_the_edge_index_result():
    rng = np.random.default_rng(4)
    n = 6
    adjacency = np.zeros((n, n))
    source, target = EDGES[:, EDGES[0] != EDGES[1]]
    np.add.at(adjacency, (target, source), rng.uniform(0.5, 2.0, source.size))  # [i, j]: the edge j -> i
    edges = np.array(np.nonzero(adjacency.T))                                     # rows: source, target
    weights = adjacency.T[edges[0], edges[1]]
    x = rng.standard_normal((2, n, 4))                                            # a batch of node features
    for improved in (False, True):
        conv = _layer(improved=improved)
        dense = conv(autograd.tensor(x), autograd.tensor(adjacency))
        sparse = conv(autograd.tensor(x), autograd.tensor(edges), autograd.tensor(weights))
        np.testing.assert_allclose(dense.data, sparse.data, atol=1e-13)
    replaced = conv(autograd.tensor(x), autograd.tensor(adjacency + np.diag(np.full(n, 5.0))))
    np.testing.assert_allclose(replaced.data, dense.data, atol=1e-13)  # self loops replace the diagonal
    batched = np.stack([adjacency, adjacency.T])
    out = conv(autograd.tensor(x), autograd.tensor(batched))
    np.testing.assert_allclose(out.data[1], conv(autograd.tensor(x[1]), autograd.tensor(adjacency.T)).data,
                               atol=1e-13)
    boolean = conv(autograd.tensor(x[0]), autograd.tensor(adjacency != 0))
    unweighted = conv(autograd.tensor(x[0]), autograd.tensor(edges))
    np.testing.assert_allclose(boolean.data, unweighted.data, atol=1e-13)


def test_gcn_conv_gradcheck_in_features_parameters_and_edge_weights():
    rng = np.random.default_rng(5)
    conv = _layer()
    x = autograd.tensor(rng.standard_normal((6, 4)), requires_grad=True)
    weights = autograd.tensor(rng.uniform(0.5, 2.0, EDGES.shape[1]), requires_grad=True)
    assert autograd.gradcheck(lambda a, e: conv(a, EDGES, e), [x, weights])
    assert autograd.gradgradcheck(lambda a, e: conv(a, EDGES, e), [x, weights])
    check_module(conv, x, EDGES, second_order=True)  # in the parameters lin.weight and bias too
    adjacency = autograd.tensor(rng.uniform(0, 1, (6, 6)) * (rng.random((6, 6)) > 0.5), requires_grad=True)
    assert autograd.gradcheck(lambda a, adj: conv(a, adj), [x, adjacency])
    check_module(conv, x, adjacency)


def test_gcn_conv_follows_pyg_names_defaults_and_caching():
    conv = nn.GCNConv(5, 3)
    assert [(k, v.shape) for k, v in conv.state_dict().items()] == [("bias", (3,)), ("lin.weight", (3, 5))]
    assert not conv.bias.data.any() and np.abs(conv.lin.weight.data).max() <= np.sqrt(6 / 8)
    assert conv.add_self_loops and conv.normalize and not conv.improved and not conv.cached
    cached = nn.GCNConv(5, 3, cached=True)
    x = autograd.randn(6, 5)
    first = cached(x, EDGES)
    second = cached(x, EDGES[:, :2])  # the graph of the first call is kept
    np.testing.assert_array_equal(first.data, second.data)
    cached.reset_parameters()
    assert cached._cached_graph is None


def test_message_passing_scales_with_the_edges():
    """200,000 edges between 50,000 nodes: a dense adjacency would take 20 GB; message passing takes E x F."""
    rng = np.random.default_rng(6)
    n, e = 50_000, 200_000
    edges = rng.integers(0, n, (2, e))
    conv = nn.GCNConv(8, 4)
    x = autograd.randn(n, 8)
    out = conv(x, edges)
    out.sum().backward()
    assert out.shape == (n, 4) and conv.lin.weight.grad.shape == (4, 8)


def test_gcn_errors_name_the_layer_and_the_shapes():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.GCNConv(4, 2)

        def forward(self, x, graph):
            return self.conv1(x, graph)

    model = Model()
    with pytest.raises(ValueError, match=r"conv1 \(GCNConv\): expected node features x of shape \(N, 4\), got "
                                         r"\(6, 3\)"):
        model(autograd.zeros(6, 3), EDGES)
    with pytest.raises(ValueError, match=r"conv1 \(GCNConv\): .*edge_index holds node 5, out of range for 5 nodes"):
        model(autograd.zeros(5, 4), EDGES + 1)
    with pytest.raises(ValueError, match=r"edge_index must be an integer tensor of shape \(2, E\).*\(3, 4\)"):
        model(autograd.zeros(5, 4), np.zeros((3, 4), np.int64))
    with pytest.raises(ValueError, match=r"dense adjacency must have shape \(N, N\) or \(B, N, N\) with N = 5 "
                                         r"nodes .* got \(4, 4\)"):
        model(autograd.zeros(5, 4), np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"one weight per edge, shape \(10,\), got \(3,\)"):
        model.conv1(autograd.zeros(6, 4), EDGES, autograd.ones(3))
