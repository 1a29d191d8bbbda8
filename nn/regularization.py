"""`GaussianNoise`: noise injection as a layer, a regulariser that is active only in training mode."""

from __future__ import annotations

from autograd import Tensor, default_generator

from .module import Module

__all__ = ["GaussianNoise"]


class GaussianNoise(Module):
    """Add independent Gaussian noise N(0, std²) to every input value while training; the identity in eval mode.

    Like dropout, it keeps the network from relying on exact values (training with input noise is akin to
    Tikhonov/L2 regularisation, Bishop 1995). The noise is a constant: the gradient passes through unchanged.
    Draws come from the global generator (`autograd.manual_seed`).

        >>> model = nn.Sequential(nn.GaussianNoise(0.1), nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
        >>> model.eval()     # no noise when evaluating
    """

    def __init__(self, std: float = 0.1) -> None:
        super().__init__()
        if std < 0:
            raise ValueError(f"GaussianNoise: std must be >= 0, got {std}")
        self.std = float(std)

    def forward(self, input: Tensor) -> Tensor:
        if not self.training or self.std == 0:
            return input
        noise = default_generator().normal(0.0, self.std, input.shape).astype(input.dtype, copy=False)
        return input + noise

    def extra_repr(self) -> str:
        return f"std={self.std}"
