"""torch on the CPU: the thread count, denormal floats flushed to zero in every thread, and
freed memory kept for reuse.

Training on real spectrograms produces denormal floats (tiny activations and gradients),
which x86 CPUs compute in microcode, many times slower than normal floats.
``torch.set_flush_denormal(True)`` sets the FTZ/DAZ bits of the *calling* thread's MXCSR
register only; torch's kernels run on OpenMP worker threads, which keep the register
they had when they were created. :func:`configure_cpu` therefore runs one OpenMP parallel
region (``GOMP_parallel`` of each libgomp loaded, torch's among them) whose body sets the flag in
each worker. Threads created later copy the creating thread's register, so the flag
holds for them too.

glibc's ``malloc`` serves every block above its mmap threshold (at most 32 MB) with a
fresh ``mmap`` and unmaps it on ``free``. A training step of the paper's CNN at 224 px
allocates and frees activations of ~100 MB each, so every step the kernel faults in and
zeroes them again, page by page. :func:`configure_cpu` therefore has ``malloc`` serve
all blocks from its heap and keep what is freed there (``mallopt``: no mmap, trimming only
above 2 GB free): the next step reuses the same pages. The process keeps its peak heap
until it exits, as PyTorch's GPU caching allocator does on the device. bench/README.md
has both measurements.

Kept below the model layer: the corpora's autoencoder trains with torch too.
"""

from __future__ import annotations

import ctypes
import logging
import os

import torch

__all__ = ["configure_cpu", "flushes_denormals", "reuses_freed_memory"]

log = logging.getLogger(__name__)

_BODY = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def _set_flush(_data) -> None:
    torch.set_flush_denormal(True)


_body = _BODY(_set_flush)  # module-level: the C callback must outlive every call


def _libgomps() -> list[ctypes.CDLL]:
    """The OpenMP runtimes (libgomp) mapped into this process: torch's, and others that
    wheels bundle (scikit-learn's, for one), whose workers are set too."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {ln.split()[-1] for ln in maps if "libgomp" in ln and "/" in ln}
    except OSError:  # not Linux
        return []
    libs = []
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
            lib.GOMP_parallel.argtypes = [_BODY, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
            lib.GOMP_parallel.restype = None
        except (OSError, AttributeError):
            continue
        libs.append(lib)
    return libs


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_heap_kept = False


def _keep_freed_memory() -> None:
    global _heap_kept
    if _heap_kept:
        return
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return
    if not hasattr(libc, "gnu_get_libc_version"):  # not glibc: its malloc is tuned otherwise
        return
    _heap_kept = bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    )


def reuses_freed_memory() -> bool:
    """True once :func:`configure_cpu` has set glibc's malloc to keep freed blocks."""
    return _heap_kept


def flushes_denormals() -> bool:
    """True when a denormal result of a multi-threaded torch op comes out as zero.

    The op is an elementwise product big enough that every thread computes a part.
    """
    n = max(torch.get_num_threads(), 1) * 65536
    x = torch.full((n,), 1e-30, dtype=torch.float32) * 1e-10  # 1e-40 is denormal in fp32
    return bool((x == 0).all())


def configure_cpu(threads: int | None = None, *, reuse_memory: bool = True) -> None:
    """Set torch's CPU threads (``None`` or 0: leave as is), flush denormals in all, and
    (``reuse_memory``, glibc only) keep freed memory for reuse, from then on.

    Call it at each entry point that trains or runs a torch model on the CPU, after any
    change of the thread count. Where the OpenMP runtime is not libgomp (not Linux), only
    the calling thread is set and a warning says when workers still compute denormals.
    """
    if reuse_memory:
        _keep_freed_memory()
    if threads:
        torch.set_num_threads(int(threads))
    if not torch.set_flush_denormal(True):  # the CPU has no FTZ/DAZ (not x86 with SSE3)
        return
    libs = _libgomps()
    for lib in libs:
        lib.GOMP_parallel(_body, None, ctypes.c_uint(torch.get_num_threads()), 0)
    if not libs and torch.get_num_threads() > 1 and not flushes_denormals():
        log.warning(
            "torch's worker threads still compute denormal floats (no libgomp found in "
            "this process, pid %d); CPU training may run several times slower",
            os.getpid(),
        )
