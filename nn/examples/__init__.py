"""Runnable examples: `python -m nn.examples.NAME` (see each module's docstring)."""
