"""Keep freed CPU memory in the process instead of handing it back to the kernel.

glibc serves every allocation above its mmap threshold (128 KiB to 32 MiB, adjusted as the
program runs) with a fresh ``mmap`` and unmaps it on free, so a tensor of a few MB made
and dropped on every planning iteration or training step pays a page fault per 4 KiB page
each time it is made. Raising the mmap and trim thresholds lets the heap keep and reuse
that memory, as a caching allocator does on CUDA. Measured on this project's 2-core CPU:
the goal-distance cost of 300 x 16 candidate latents 1.4 ms -> 0.13 ms, ViT training steps
15-18% faster (docs/benchmarks.md). The price: the process keeps its
peak heap until it exits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, from glibc's malloc.h
# glibc's own ceiling for the threshold (older versions refuse more); above the largest
# activation of a ViT-tiny training step (13 MB) and any candidate batch here.
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 1 << 30


def reuse_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; True if applied.

    A no-op returning False off Linux or without glibc (e.g. musl). Call it once at the
    start of a command, not at import: it changes the whole process's allocator.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
