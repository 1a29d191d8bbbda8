"""Examples that train real models, one command each: `python -m nn.examples.NAME` (see each module's docstring)."""
