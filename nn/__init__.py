"""nn: modules, layers, losses, initialisers, optimisers and data loading, built on autograd's operations.

Nothing in this package writes a backward pass by hand: every layer and loss is composed of autograd
operations, so its gradient comes from the engine (and is checked by autograd.gradcheck in the tests).
"""

from __future__ import annotations

from .parameter import Parameter
