"""Issue 15's structure ops (tril ... cross) against PyTorch in float64: values and gradients.

Each case runs the same call on an autograd tensor and a torch tensor holding the same numbers, then backward
with the same random output gradient, and compares the outputs and the input gradients.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import autograd as ag

torch = pytest.importorskip("torch")


def _compare(fn: Callable, *shapes: tuple, torch_fn: Callable | None = None, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    ours = [ag.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, expected = fn(*ours), (torch_fn or fn)(*theirs)
    outs = out if isinstance(out, tuple) else (out,)
    expecteds = expected if isinstance(expected, tuple) else (expected,)
    assert len(outs) == len(expecteds)
    total, total_torch = 0, 0
    for o, e in zip(outs, expecteds):
        assert o.shape == tuple(e.shape), (o.shape, tuple(e.shape))
        np.testing.assert_allclose(o.numpy(), e.detach().numpy(), rtol=1e-12, atol=1e-12)
        g = rng.standard_normal(o.shape)
        total = total + (o * ag.tensor(g)).sum()
        total_torch = total_torch + (e * torch.tensor(g)).sum()
    total.backward()
    total_torch.backward()
    for x, t in zip(ours, theirs):
        expected_grad = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
        got = np.zeros(x.shape) if x.grad is None else x.grad.numpy()
        np.testing.assert_allclose(got, expected_grad, rtol=1e-12, atol=1e-12)


CASES: list[tuple[str, Callable, tuple, Any]] = [
    ("tril", lambda x: x.tril(), ((3, 4),), None),
    ("tril-1", lambda x: x.tril(-1), ((2, 4, 3),), None),
    ("tril+2", lambda x: x.tril(diagonal=2), ((4, 3),), None),
    ("triu", lambda x: x.triu(), ((3, 4),), None),
    ("triu+1", lambda x: x.triu(1), ((2, 3, 3),), None),
    ("triu-5", lambda x: x.triu(-5), ((3, 2),), None),
    ("diagonal", lambda x: x.diagonal(), ((3, 4),), None),
    ("diagonal_offset", lambda x: x.diagonal(1, -1, 0), ((2, 3, 4),), None),
    ("diagonal_negative", lambda x: x.diagonal(offset=-2, dim1=1, dim2=2), ((2, 4, 3),), None),
    ("diagonal_past_the_end", lambda x: x.diagonal(5), ((2, 3),), None),
    ("diag_vector", lambda x: x.diag(), ((3,),), None),
    ("diag_vector_offset", lambda x: x.diag(-2), ((3,),), None),
    ("diag_matrix", lambda x: x.diag(1), ((3, 4),), None),
    ("diag_embed", lambda x: x.diag_embed(), ((2, 3),), None),
    ("diag_embed_dims", lambda x: x.diag_embed(1, 0, 2), ((2, 3),), None),
    ("diag_embed_swapped", lambda x: x.diag_embed(-1, -1, -3), ((2, 3),), None),
    ("trace", lambda x: x.trace(), ((3, 4),), None),
    ("roll_flat", lambda x: x.roll(2), ((3, 4),), None),
    ("roll_dims", lambda x: x.roll((1, -5), (0, -1)), ((3, 4),), None),
    ("roll_same_dim_twice", lambda x: x.roll((1, 1), (1, 1)), ((3, 4),), None),
    ("rot90", lambda x: x.rot90(), ((3, 4),), None),
    ("rot90_k2", lambda x: x.rot90(2, (1, 2)), ((2, 3, 4),), None),
    ("rot90_k3", lambda x: x.rot90(-1, (2, 0)), ((2, 3, 4),), None),
    ("rot90_k0", lambda x: x.rot90(4), ((2, 3),), None),
    ("meshgrid_ij", lambda x, y, z: ag.meshgrid(x, y, z, indexing="ij"), ((2,), (3,), ()),
     lambda x, y, z: torch.meshgrid(x, y, z, indexing="ij")),
    ("meshgrid_xy", lambda x, y, z: ag.meshgrid([x, y, z], indexing="xy"), ((2,), (3,), (4,)),
     lambda x, y, z: torch.meshgrid([x, y, z], indexing="xy")),
    ("repeat_interleave_int", lambda x: x.repeat_interleave(3, dim=1), ((2, 3),), None),
    ("repeat_interleave_flat", lambda x: x.repeat_interleave(2), ((2, 3),), None),
    ("repeat_interleave_counts", lambda x: ag.repeat_interleave(x, ag.tensor([2, 0, 3]), dim=-1), ((2, 3),),
     lambda x: torch.repeat_interleave(x, torch.tensor([2, 0, 3]), dim=-1)),
    ("unflatten", lambda x: x.unflatten(1, (2, -1)), ((2, 6, 1),), None),
    ("movedim", lambda x: x.movedim(0, -1), ((2, 3, 4),), None),
    ("movedim_many", lambda x: ag.movedim(x, (0, 1), (2, 0)), ((2, 3, 4),),
     lambda x: torch.movedim(x, (0, 1), (2, 0))),
    ("moveaxis", lambda x: x.moveaxis(-1, 1), ((2, 3, 4),), None),
    ("swapdims", lambda x: x.swapdims(0, 2), ((2, 3, 4),), None),
    ("swapaxes", lambda x: ag.swapaxes(x, 0, 1), ((2, 3),), lambda x: torch.swapaxes(x, 0, 1)),
    ("narrow", lambda x: x.narrow(1, 1, 2), ((2, 4),), None),
    ("narrow_negative_start", lambda x: x.narrow(-1, -3, 2), ((2, 4),), None),
    ("unfold", lambda x: x.unfold(1, 2, 1), ((2, 5, 3),), None),
    ("unfold_step", lambda x: x.unfold(-1, 3, 2), ((2, 7),), None),
    ("unfold_0d", lambda x: x.unfold(0, 1, 1), ((),), None),
    ("tile", lambda x: x.tile((2,)), ((2, 3),), None),
    ("tile_more", lambda x: x.tile(2, 1, 3), ((2, 3),), None),
    ("atleast_2d", lambda x: ag.atleast_2d(x), ((3,),), lambda x: torch.atleast_2d(x)),
    ("atleast_2d_many", lambda x, y: ag.atleast_2d(x, y), ((), (2, 3, 1)), lambda x, y: torch.atleast_2d(x, y)),
    ("atleast_3d", lambda x, y: ag.atleast_3d((x, y)), ((3,), (2, 3)), lambda x, y: torch.atleast_3d((x, y))),
    ("outer", lambda x, y: x.outer(y), ((3,), (4,)), None),
    ("kron", lambda x, y: x.kron(y), ((2, 3), (3, 2)), None),
    ("kron_ranks", lambda x, y: ag.kron(x, y), ((2,), (2, 3, 2)), lambda x, y: torch.kron(x, y)),
    ("cross", lambda x, y: x.cross(y, dim=-1), ((4, 3), (4, 3)), None),
    ("cross_broadcast", lambda x, y: ag.cross(x, y, dim=0), ((3, 1, 2), (3, 4, 1)),
     lambda x, y: torch.cross(x, y, dim=0)),
]


@pytest.mark.parametrize(("name", "fn", "shapes", "torch_fn"), CASES, ids=[c[0] for c in CASES])
def test_structure_ops_match_pytorch(name: str, fn: Callable, shapes: tuple, torch_fn: Any) -> None:
    _compare(fn, *shapes, torch_fn=torch_fn)
