"""Recurrent layers: the cells `RNNCell`, `LSTMCell`, `GRUCell`, and `RNN`, `LSTM`, `GRU` over whole sequences.

The RNN and GRU project the input of every time step at once (one product), then run the recurrence. The
LSTM is one node, `autograd.fused_lstm` (the whole sequence, input projection included; its backpropagation
through time is in the derivative table, autograd/ops.py). The others run their cell once per time step in a
Python loop: define-by-run records whatever happened, so there is no backward code here, and sequences of
different lengths need nothing more than a mask (pass `lengths=`; the LSTM then runs the composed cell too).
Parameter names, shapes, gate orders and initialisation are PyTorch's, so a PyTorch state_dict loads as is:

    weight_ih_l{k}  (gates * hidden_size, input_size or hidden_size * directions)
    weight_hh_l{k}  (gates * hidden_size, hidden_size)
    bias_ih_l{k}, bias_hh_l{k}  (gates * hidden_size,)       (`_reverse` suffix for the backward direction)

with gates = 1 (RNN), 4 (LSTM: input, forget, cell, output) or 3 (GRU: reset, update, new).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import autograd
from autograd import Tensor

from . import functional as F
from . import init
from ._factory import factory_dtype
from .module import Module, ShapeError
from .parameter import Parameter

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU"]


# ---------------------------------------------------------------------------------------------------------------
# One time step of each kind. `projected` is x W_ih^T + b_ih, computed for all steps at once by the layers.
# ---------------------------------------------------------------------------------------------------------------
def _rnn_step(projected: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None, nonlinearity: str) -> Tensor:
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu)."""
    pre = projected + F.linear(h, w_hh, b_hh)
    return pre.tanh() if nonlinearity == "tanh" else pre.relu()


def _lstm_step(projected: Tensor, state: tuple[Tensor, Tensor], w_hh: Tensor, b_hh: Tensor | None
               ) -> tuple[Tensor, Tensor]:
    """i, f, g, o = gates; c' = f c + i g; h' = o tanh(c'), with sigmoid gates i, f, o and g = tanh."""
    h, c = state
    gates = projected + F.linear(h, w_hh, b_hh)
    i, f, g, o = gates.chunk(4, dim=-1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c.tanh(), c


def _gru_step(projected: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> Tensor:
    """r = sigmoid(.), z = sigmoid(.), n = tanh(x_n + r (W_hn h + b_hn)); h' = (1 - z) n + z h."""
    x_r, x_z, x_n = projected.chunk(3, dim=-1)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, dim=-1)
    r = (x_r + h_r).sigmoid()
    z = (x_z + h_z).sigmoid()
    n = (x_n + r * h_n).tanh()
    return n + z * (h - n)  # = (1 - z) n + z h, one operation fewer


def _fused_lstm(x: Tensor, state: tuple[Tensor, Tensor], w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None,
                b_hh: Tensor | None, reverse: bool = False) -> tuple[Tensor, Tensor]:
    """An LSTM over the sequence x (steps, N, input_size) from state = (h_0, c_0): every h_t (steps, N, H) and
    the last c. One node, autograd.fused_lstm, with the input projection inside it (both biases added once)."""
    bias = b_ih + b_hh if b_ih is not None and b_hh is not None else b_ih if b_ih is not None else b_hh
    steps = x.shape[0]
    seq = autograd.fused_lstm(x, autograd.cat(list(state), -1), w_ih, w_hh, bias, reverse=reverse)
    return seq[:steps], seq[steps]  # (steps + 1, N, H): every h_t, then c after the last step run


_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _uniform_params(module: Module) -> None:
    """PyTorch's recurrent init: every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
    bound = 1.0 / math.sqrt(module.hidden_size) if module.hidden_size > 0 else 0
    for p in module.parameters():
        init.uniform_(p, -bound, bound)


# ---------------------------------------------------------------------------------------------------------------
# Cells: one step, input (N, input_size) or (input_size,)
# ---------------------------------------------------------------------------------------------------------------
class _CellBase(Module):
    _mode = ""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        dt = factory_dtype(self, device, dtype)
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        gates = _GATES[self._mode] * hidden_size
        self.weight_ih = Parameter(np.zeros((gates, input_size), dtype=dt))
        self.weight_hh = Parameter(np.zeros((gates, hidden_size), dtype=dt))
        if bias:
            self.bias_ih = Parameter(np.zeros(gates, dtype=dt))
            self.bias_hh = Parameter(np.zeros(gates, dtype=dt))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _uniform_params(self)

    def _prepare(self, input: Tensor, hx: Any, n_states: int) -> tuple[Tensor, list, bool]:
        shape = tuple(input.shape)
        if len(shape) not in (1, 2) or shape[-1] != self.input_size:
            raise ShapeError(self, f"(N, {self.input_size}) or ({self.input_size},)", shape,
                             f"input_size is {self.input_size}")
        unbatched = len(shape) == 1
        x = input.unsqueeze(0) if unbatched else input
        batch = x.shape[0]
        if hx is None:
            states = [autograd.zeros(batch, self.hidden_size, dtype=x.dtype) for _ in range(n_states)]
        else:
            states = list(hx) if n_states > 1 else [hx]
            if len(states) != n_states:
                raise ShapeError(self, f"hx as a tuple of {n_states} tensors", (len(states),))
            expected = (self.hidden_size,) if unbatched else (batch, self.hidden_size)
            for s in states:
                if tuple(s.shape) != expected:
                    raise ShapeError(self, f"hidden state {expected}", tuple(s.shape),
                                     "the hidden state does not match the input's batch size and hidden_size")
            if unbatched:
                states = [s.unsqueeze(0) for s in states]
        return x, states, unbatched

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class RNNCell(_CellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (nonlinearity='relu' for relu)."""

    _mode = "RNN_TANH"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device: Any = None, dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), unbatched = self._prepare(input, hx, 1)
        h = _rnn_step(F.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh,
                      self.nonlinearity)
        return h.squeeze(0) if unbatched else h


class LSTMCell(_CellBase):
    """One LSTM step: returns (h', c') from the input and hx = (h, c) (zeros when omitted)."""

    _mode = "LSTM"

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        x, (h, c), unbatched = self._prepare(input, hx, 2)
        h, c = _fused_lstm(x.unsqueeze(0), (h, c), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        h = h[0]
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)


class GRUCell(_CellBase):
    """One GRU step: returns h'."""

    _mode = "GRU"

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), unbatched = self._prepare(input, hx, 1)
        h = _gru_step(F.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh)
        return h.squeeze(0) if unbatched else h


# ---------------------------------------------------------------------------------------------------------------
# Sequence layers
# ---------------------------------------------------------------------------------------------------------------
class _RNNBase(Module):
    _mode = ""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: Any = None, dtype: Any = None) -> None:
        dt = factory_dtype(self, device, dtype)
        super().__init__()
        name = type(self).__name__
        if num_layers < 1:
            raise ValueError(f"{name}: num_layers must be at least 1, got {num_layers}")
        if not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout must be a probability in [0, 1], got {dropout}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout, self.bidirectional = bias, batch_first, float(dropout), \
            bidirectional
        directions = 2 if bidirectional else 1
        gates = _GATES[self._mode] * hidden_size
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * directions
            for suffix in ("", "_reverse")[:directions]:
                self.register_parameter(f"weight_ih_l{layer}{suffix}",
                                        Parameter(np.zeros((gates, layer_input), dtype=dt)))
                self.register_parameter(f"weight_hh_l{layer}{suffix}",
                                        Parameter(np.zeros((gates, hidden_size), dtype=dt)))
                if bias:
                    self.register_parameter(f"bias_ih_l{layer}{suffix}", Parameter(np.zeros(gates, dtype=dt)))
                    self.register_parameter(f"bias_hh_l{layer}{suffix}", Parameter(np.zeros(gates, dtype=dt)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _uniform_params(self)

    def _step(self, projected: Tensor, state: Any, w_hh: Tensor, b_hh: Tensor | None) -> Any:
        raise NotImplementedError

    def _check(self, input: Tensor, lengths: Any) -> tuple[Tensor, bool, np.ndarray | None]:
        shape = tuple(input.shape)
        layout = "(N, L, {})" if self.batch_first else "(L, N, {})"
        if len(shape) not in (2, 3) or shape[-1] != self.input_size:
            raise ShapeError(self, f"{layout.format(self.input_size)} or (L, {self.input_size})", shape,
                             f"input_size is {self.input_size}")
        unbatched = len(shape) == 2
        x = input if isinstance(input, Tensor) else autograd.as_tensor(input)
        if unbatched:
            x = x.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)  # time-major inside: x[t] is one step of the whole batch
        steps, batch = x.shape[:2]
        if steps == 0:  # (an empty batch is fine; an empty sequence has no last state to return)
            raise ShapeError(self, f"{layout.format(self.input_size)} with a sequence length L of at least 1",
                             shape, "the sequence is empty")
        if lengths is None:
            return x, unbatched, None
        lengths = np.asarray(lengths).reshape(-1)
        if lengths.shape != (batch,) or lengths.dtype.kind not in "iu" or lengths.min(initial=1) < 1 \
                or lengths.max(initial=0) > steps:
            raise ShapeError(self, f"lengths: {batch} integers in [1, {steps}]", lengths.shape,
                             f"got lengths {lengths.tolist()}")
        return x, unbatched, lengths

    def _initial_states(self, hx: Any, batch: int, unbatched: bool, dtype: np.dtype) -> list:
        """Per layer and direction, the initial state (h, or (h, c) for the LSTM)."""
        directions = 2 if self.bidirectional else 1
        count = self.num_layers * directions
        expected = (count, self.hidden_size) if unbatched else (count, batch, self.hidden_size)
        parts = (hx if isinstance(hx, (tuple, list)) else (hx,)) if hx is not None else None
        n_parts = 2 if self._mode == "LSTM" else 1
        if parts is None:
            zero = autograd.zeros(batch, self.hidden_size, dtype=dtype)
            return [zero if n_parts == 1 else (zero, zero) for _ in range(count)]
        if len(parts) != n_parts:
            raise ShapeError(self, "hx = (h_0, c_0)" if n_parts == 2 else "hx = h_0", (len(parts),))
        for p in parts:
            if tuple(p.shape) != expected:
                raise ShapeError(self, f"initial hidden state {expected}", tuple(p.shape),
                                 "(num_layers * num_directions, N, hidden_size)")
        if unbatched:
            parts = [p.unsqueeze(1) for p in parts]
        per_part = [[p[i] for i in range(count)] for p in parts]
        return [per_part[0][i] if n_parts == 1 else (per_part[0][i], per_part[1][i]) for i in range(count)]

    def forward(self, input: Tensor, hx: Any = None, lengths: Any = None) -> tuple[Tensor, Any]:
        """Run the whole sequence. `lengths` (ours; PyTorch packs sequences instead) gives each batch
        element's true length: later steps leave its state unchanged and its output 0, as PyTorch's
        packed sequences do."""
        x, unbatched, lengths = self._check(input, lengths)
        steps, batch = x.shape[:2]
        states = self._initial_states(hx, batch, unbatched, x.dtype)
        masks = None
        if lengths is not None:  # masks[t]: which batch elements are still inside their sequence at step t
            masks = [np.asarray(t < lengths)[:, None] for t in range(steps)]
        directions = 2 if self.bidirectional else 1
        finals = []
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                suffix = f"l{layer}{'_reverse' if direction else ''}"
                w_ih, w_hh = getattr(self, "weight_ih_" + suffix), getattr(self, "weight_hh_" + suffix)
                b_ih, b_hh = getattr(self, "bias_ih_" + suffix, None), getattr(self, "bias_hh_" + suffix, None)
                state = states[layer * directions + direction]
                if self._mode == "LSTM" and masks is None:  # the whole sequence as one node
                    h, c = _fused_lstm(layer_input, state, w_ih, w_hh, b_ih, b_hh, reverse=bool(direction))
                    outputs.append(h)
                    finals.append((h[0 if direction else -1], c))
                    continue
                # The input projection of every step at once: one big matmul instead of `steps` small ones
                projected = F.linear(layer_input, w_ih, b_ih)
                out_steps: list = [None] * steps
                order = range(steps - 1, -1, -1) if direction else range(steps)
                for t in order:
                    new = self._step(projected[t], state, w_hh, b_hh)
                    if masks is not None:
                        keep = masks[t]
                        if self._mode == "LSTM":
                            new = (autograd.where(keep, new[0], state[0]), autograd.where(keep, new[1], state[1]))
                        else:
                            new = autograd.where(keep, new, state)
                        h = new[0] if self._mode == "LSTM" else new
                        out_steps[t] = autograd.where(keep, h, 0.0)
                    else:
                        out_steps[t] = new[0] if self._mode == "LSTM" else new
                    state = new
                finals.append(state)
                outputs.append(autograd.stack(out_steps, 0))
            layer_output = outputs[0] if directions == 1 else autograd.cat(outputs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_output = F.dropout(layer_output, self.dropout, True)
            layer_input = layer_output
        output = layer_input
        if self._mode == "LSTM":
            h_n = autograd.stack([s[0] for s in finals], 0)
            c_n = autograd.stack([s[1] for s in finals], 0)
            if unbatched:
                return output.squeeze(1), (h_n.squeeze(1), c_n.squeeze(1))
            return (output.transpose(0, 1) if self.batch_first else output), (h_n, c_n)
        h_n = autograd.stack(finals, 0)
        if unbatched:
            return output.squeeze(1), h_n.squeeze(1)
        return (output.transpose(0, 1) if self.batch_first else output), h_n

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(_RNNBase):
    """Elman RNN over a sequence: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh).

    Input (L, N, input_size), or (N, L, input_size) with batch_first=True, or unbatched (L, input_size).
    Returns (output, h_n): the top layer's h_t for every t, and the last state of every layer and direction,
    (num_layers * directions, N, hidden_size).
    """

    _mode = "RNN_TANH"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: Any = None, dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def _step(self, projected: Tensor, state: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> Tensor:
        return _rnn_step(projected, state, w_hh, b_hh, self.nonlinearity)


class LSTM(_RNNBase):
    """Long short-term memory over a sequence. Gates (in PyTorch's order i, f, g, o):

        i, f, o = sigmoid(.), g = tanh(.), of x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh
        c_t = f c_{t-1} + i g,  h_t = o tanh(c_t)

    Returns (output, (h_n, c_n)); hx is (h_0, c_0).
    """

    _mode = "LSTM"

    def _step(self, projected: Tensor, state: tuple, w_hh: Tensor, b_hh: Tensor | None) -> tuple:
        return _lstm_step(projected, state, w_hh, b_hh)


class GRU(_RNNBase):
    """Gated recurrent unit over a sequence (gates in PyTorch's order r, z, n):

        r = sigmoid(x W_ir + b_ir + h W_hr + b_hr),  z = sigmoid(x W_iz + b_iz + h W_hz + b_hz)
        n = tanh(x W_in + b_in + r * (h W_hn + b_hn)),  h_t = (1 - z) n + z h_{t-1}

    Returns (output, h_n).
    """

    _mode = "GRU"

    def _step(self, projected: Tensor, state: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> Tensor:
        return _gru_step(projected, state, w_hh, b_hh)
