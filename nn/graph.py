"""Graph networks: `GCNConv`, the graph convolution of Kipf & Welling (2017), and its normalisation `gcn_norm`.

PyTorch has no graph layers; these follow PyTorch Geometric's (`torch_geometric.nn.GCNConv`, `gcn_norm`): the same
names, arguments, defaults, parameter names (`lin.weight` of shape (out_channels, in_channels), `bias`) and
initialisation (Glorot weights, zero bias), and the same results. A graph is given as

- an edge index: an integer tensor of shape (2, E), row 0 the source and row 1 the target of each edge (messages
  flow from source to target), with optional `edge_weight` (E,); or
- a dense adjacency: a float (or boolean) tensor (N, N) (or (B, N, N) for a batch of graphs), entry [i, j] the
  weight of the edge from node j to node i (row i lists what node i gathers from: PyG's `adj_t`). Self loops
  replace its diagonal (weight 1, or 2 when `improved`), as PyG's DenseGCNConv does; on an edge index an existing
  self loop keeps its weight (PyG's add_remaining_self_loops).

The layer computes X' = D^-1/2 (A + I) D^-1/2 X W + b with D the (weighted) degrees of A + I. On an edge index this
is message passing: each edge carries norm_e * (X W)[source] and `index_add` sums the messages into their targets,
so the cost grows with the number of edges, not with N^2.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import autograd
from autograd import Tensor
from autograd.errors import OpError

from . import init
from ._factory import factory_dtype
from .linear import Linear
from .module import LayerError, Module
from .parameter import Parameter

__all__ = ["GCNConv", "gcn_norm", "GraphError"]


class GraphError(LayerError, OpError):
    """A graph layer was given node features or a graph that do not fit together."""


def _edge_array(edge_index: Any, num_nodes: int, op: str) -> np.ndarray:
    ei = np.asarray(edge_index.data if isinstance(edge_index, Tensor) else edge_index)
    if ei.dtype.kind not in "iu" or ei.ndim != 2 or ei.shape[0] != 2:
        raise ValueError(f"{op}: edge_index must be an integer tensor of shape (2, E), got dtype {ei.dtype} and "
                         f"shape {ei.shape}")
    if ei.size and (ei.min() < 0 or ei.max() >= num_nodes):
        raise IndexError(f"{op}: edge_index holds node {int(ei.min() if ei.min() < 0 else ei.max())}, out of range "
                         f"for {num_nodes} nodes")
    return ei.astype(np.int64, copy=False)


def _inverse_sqrt_degree(degree: Tensor) -> Tensor:
    """deg^-1/2, with 0 for isolated nodes (deg = 0) instead of inf: PyG's rule. The zeros are routed around the
    power, so that its infinite derivative never meets them."""
    isolated = degree.data == 0
    if not isolated.any():
        return degree ** -0.5
    return autograd.where(isolated, 0.0, autograd.where(isolated, 1.0, degree) ** -0.5)


def gcn_norm(edge_index: Any, edge_weight: Tensor | None = None, num_nodes: int | None = None,
             improved: bool = False, add_self_loops: bool = True, dtype: Any = None) -> tuple[np.ndarray, Tensor]:
    """The symmetric normalisation of GCN on an edge index (PyG's gcn_norm, flow source -> target):

        w'_(j->i) = deg(j)^-1/2 w_(j->i) deg(i)^-1/2,   deg(i) = sum of the weights of the edges into i,

    after adding a self loop to every node (weight 1, or 2 when `improved`), PyG's add_remaining_self_loops: an
    existing self loop is replaced by one that keeps its weight. Returns (edge_index (2, E') as an int64 array,
    the normalised weights (E',)), differentiable in `edge_weight`."""
    op = "gcn_norm"
    ei = np.asarray(edge_index.data if isinstance(edge_index, Tensor) else edge_index)
    n = int(num_nodes if num_nodes is not None else (ei.max() + 1 if ei.size else 0))
    ei = _edge_array(ei, n, op)
    dtype = np.dtype(dtype or (edge_weight.dtype if isinstance(edge_weight, Tensor) else np.float32))
    if edge_weight is None:
        weight = autograd.ones(ei.shape[1], dtype=dtype)
    else:
        weight = edge_weight if isinstance(edge_weight, Tensor) else autograd.as_tensor(edge_weight, dtype=dtype)
        if tuple(weight.shape) != (ei.shape[1],):
            raise ValueError(f"{op}: edge_weight must have one weight per edge, shape ({ei.shape[1]},), got "
                             f"{tuple(weight.shape)}")
    if add_self_loops:
        fill = 2.0 if improved else 1.0
        source, target = ei
        is_loop = source == target
        # the weight of each node's self loop: its existing one (the last, if repeated) or `fill`
        last = np.full(n, -1)
        last[source[is_loop]] = np.flatnonzero(is_loop)
        has_loop = last >= 0
        loops = autograd.where(has_loop, weight[np.maximum(last, 0)], fill) if has_loop.any() else \
            autograd.full((n,), fill, dtype=weight.dtype)
        keep = ~is_loop
        nodes = np.arange(n)
        ei = np.concatenate([ei[:, keep], np.stack([nodes, nodes])], axis=1)
        weight = autograd.cat([weight[keep], loops])
    source, target = ei
    degree = autograd.zeros(n, dtype=weight.dtype).index_add(0, target, weight)
    scale = _inverse_sqrt_degree(degree)
    return ei, scale[source] * weight * scale[target]


class GCNConv(Module):
    """Graph convolution (Kipf & Welling, "Semi-Supervised Classification with Graph Convolutional Networks"):

        X' = D^-1/2 (A + I) D^-1/2 X W + b

    PyTorch Geometric's layer and defaults: GCNConv(in_channels, out_channels, improved=False, cached=False,
    add_self_loops=None (= normalize), normalize=True, bias=True); parameters `lin.weight` (out_channels,
    in_channels), Glorot-initialised, and `bias` (out_channels,), zeros.

    forward(x, edge_index, edge_weight=None): x of shape (N, in_channels) (or (..., N, in_channels)); the graph
    as an integer edge index (2, E) with optional edge weights (E,), or as a dense float adjacency (N, N) or
    (B, N, N) whose entry [i, j] weighs the edge j -> i (see the module docstring). `improved` gives self loops
    weight 2; `normalize=False` skips the normalisation (and the self loops); `cached` keeps the normalised
    edge-index graph of the first call (for a fixed graph, as in transductive node classification).

    >>> import autograd
    >>> conv = GCNConv(3, 2)
    >>> edges = autograd.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])     # a path 0 - 1 - 2, both directions
    >>> conv(autograd.ones(3, 3), edges).shape
    (3, 2)
    """

    def __init__(self, in_channels: int, out_channels: int, improved: bool = False, cached: bool = False,
                 add_self_loops: bool | None = None, normalize: bool = True, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        dt = factory_dtype(self, device, dtype)
        super().__init__()
        if add_self_loops is None:
            add_self_loops = normalize
        if add_self_loops and not normalize:
            raise ValueError("GCNConv: add_self_loops=True needs normalize=True (PyG's rule: without the "
                             "normalisation no self loops are added)")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.improved, self.cached = improved, cached
        self.add_self_loops, self.normalize = add_self_loops, normalize
        if bias:
            self.bias = Parameter(np.zeros(out_channels, dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.lin = Linear(in_channels, out_channels, bias=False, dtype=dt)
        self._cached_graph: tuple[np.ndarray, Tensor] | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.xavier_uniform_(self.lin.weight)  # PyG's glorot: U(-a, a), a = sqrt(6 / (fan_in + fan_out))
        if self.bias is not None:
            init.zeros_(self.bias)
        self._cached_graph = None

    def forward(self, x: Tensor, edge_index: Any, edge_weight: Tensor | None = None) -> Tensor:
        x = x if isinstance(x, Tensor) else autograd.as_tensor(x)
        if x.ndim < 2 or x.shape[-1] != self.in_channels:
            raise GraphError(self, f"expected node features x of shape (N, {self.in_channels}), got {x.shape}")
        graph = edge_index if isinstance(edge_index, Tensor) else autograd.as_tensor(edge_index)
        nodes = x.shape[-2]
        h = self.lin(x)
        if graph.dtype.kind in "fb":
            out = self._dense(h, graph, nodes)
        else:
            out = self._message_passing(h, graph, edge_weight, nodes)
        return out if self.bias is None else out + self.bias

    def _dense(self, h: Tensor, adjacency: Tensor, nodes: int) -> Tensor:
        if adjacency.ndim not in (2, 3) or adjacency.shape[-2:] != (nodes, nodes):
            raise GraphError(self, f"a dense adjacency must have shape (N, N) or (B, N, N) with N = {nodes} "
                                       f"nodes (x's dim -2), got {adjacency.shape}")
        a = adjacency.astype(h.dtype)
        if self.add_self_loops:  # the diagonal becomes 1 (2 if improved): PyG's DenseGCNConv and fill_diag
            a = autograd.where(np.eye(nodes, dtype=bool), 2.0 if self.improved else 1.0, a)
        if self.normalize:
            scale = _inverse_sqrt_degree(a.sum(-1))
            a = scale.unsqueeze(-1) * a * scale.unsqueeze(-2)
        return a @ h

    def _message_passing(self, h: Tensor, edge_index: Tensor, edge_weight: Tensor | None, nodes: int) -> Tensor:
        try:
            if self.normalize:
                if self.cached and self._cached_graph is not None:
                    ei, weight = self._cached_graph
                else:
                    ei, weight = gcn_norm(edge_index, edge_weight, nodes, self.improved, self.add_self_loops,
                                          h.dtype)
                    if self.cached:
                        self._cached_graph = (ei, weight.detach())
            else:
                ei, weight = _edge_array(edge_index, nodes, "GCNConv"), edge_weight
        except (ValueError, IndexError) as err:
            raise GraphError(self, str(err)) from None
        source, target = ei
        messages = h[..., source, :]
        if weight is not None:
            messages = messages * weight.astype(h.dtype).unsqueeze(-1)
        out = autograd.zeros(*h.shape, dtype=h.dtype)
        return out.index_add(-2, target, messages)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}"
