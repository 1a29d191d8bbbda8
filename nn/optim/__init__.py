"""nn.optim: optimisers (PyTorch's update rules and defaults) and learning-rate schedules.

    >>> opt = nn.optim.Adam(model.parameters(), lr=1e-3)
    >>> sched = nn.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    >>> for epoch in range(epochs):
    ...     for x, y in loader:
    ...         opt.zero_grad()
    ...         loss_fn(model(x), y).backward()
    ...         opt.step()
    ...     sched.step()

`optimizer.py` has the machinery shared by all rules (groups, state, checkpoints), `optimizers.py` the rules,
`lr_scheduler.py` the schedules.
"""

from __future__ import annotations

from . import lr_scheduler
from .optimizer import Optimizer
from .optimizers import SGD, Adadelta, Adagrad, Adam, AdamW, RMSprop, Rprop

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta", "Rprop", "lr_scheduler"]
