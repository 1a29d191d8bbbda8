"""Keep freed memory for reuse: large temporary arrays should not cost page faults on every training step.

A training step allocates and frees the same large temporaries again and again (im2col columns, activations,
their gradients). glibc's malloc hands blocks above a threshold straight back to the operating system, so the
next step's allocation of the same size gets fresh pages, and the first write to every 4 KiB page is a page
fault: in a small CNN this is over a third of the step. Raising malloc's mmap and trim thresholds and its top
pad keeps that memory in the process for reuse, which is what PyTorch's and other frameworks' caching
allocators achieve. The resident size does not grow beyond the step's peak.

This runs once, when `autograd` is imported, on Linux with glibc only. Set the environment variable
`GLASSGRAD_MALLOC=system` before importing to keep the system's defaults.
"""

from __future__ import annotations

import ctypes
import os
import platform

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3  # from glibc's <malloc.h>
_MiB = 1024 * 1024

configured = False  # whether the tuning below is in effect


def keep_freed_memory() -> bool:
    """Tune glibc's malloc to keep freed blocks for reuse; returns whether it took effect."""
    global configured
    if os.environ.get("GLASSGRAD_MALLOC", "").lower() == "system" or platform.system() != "Linux" \
            or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    configured = bool(mallopt(_M_MMAP_THRESHOLD, 32 * _MiB)      # blocks up to 32 MiB come from the heap
                      and mallopt(_M_TRIM_THRESHOLD, 512 * _MiB)  # and are not handed back when freed
                      and mallopt(_M_TOP_PAD, 64 * _MiB))         # grow the heap in large steps
    return configured
