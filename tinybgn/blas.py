"""The BLAS thread count: read it, set it, record it.

NumPy's matrix products call a BLAS library, usually the OpenBLAS bundled in NumPy's wheel. With
more than one thread OpenBLAS splits a product into blocks whose partial sums may be added in
another order, so the same training run can differ in the last bits between thread counts.
Bit-identical reruns therefore need the same thread count, and a run record should say which.

``OPENBLAS_NUM_THREADS`` only acts before NumPy is imported; this module talks to the library
NumPy has already loaded, through ``ctypes`` (no new dependency). It finds the library among the
shared objects mapped into this process (``/proc/self/maps`` on Linux), else in NumPy's bundled
``numpy.libs`` / ``.dylibs`` folders. Where no OpenBLAS is found (another BLAS, another OS), the
functions answer ``None`` instead of guessing::

    num_threads() -> int | None          threads OpenBLAS will use
    set_num_threads(n) -> int | None     set them; returns the previous count
    info() -> dict                       library path, version/config string, thread count,
                                         and the CPU kernel it chose ("core")

The kernel matters as much as the thread count: a DYNAMIC_ARCH OpenBLAS (NumPy's wheels) picks
its kernels for the CPU it finds at start-up (e.g. "Haswell" or "SkylakeX"), and two kernels
round differently. The same NumPy on another CPU can therefore give a run that differs in the
last bits within its first steps, and in a chaotic training (90 ReLU layers) a different
accuracy; the record's ``core`` says which kernel made it.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
from pathlib import Path

# Symbol prefixes and suffixes: NumPy's wheels bundle "scipy_openblas" built with 64-bit
# integers (suffix 64_); a system OpenBLAS exports the plain names.
_NAMES = [("scipy_openblas_", "64_"), ("scipy_openblas_", ""), ("openblas_", "")]


def _candidate_paths() -> list[str]:
    import numpy  # noqa: F401  (make sure NumPy - and so its BLAS - is loaded)

    paths: list[str] = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split()
                if len(fields) >= 6 and "openblas" in Path(fields[-1]).name.lower():
                    paths.append(fields[-1])
    except OSError:
        pass
    numpy_dir = Path(numpy.__file__).parent
    for folder in (numpy_dir.parent / "numpy.libs", numpy_dir / ".dylibs"):
        paths += sorted(glob.glob(str(folder / "*openblas*")))
    return list(dict.fromkeys(paths))  # unique, in order


class _OpenBLAS:
    def __init__(self, path: str, lib: ctypes.CDLL, prefix: str, suffix: str) -> None:
        self.path = path
        self.get = getattr(lib, f"{prefix}get_num_threads{suffix}")
        self.get.restype, self.get.argtypes = ctypes.c_int, []
        self.set = getattr(lib, f"{prefix}set_num_threads{suffix}")
        self.set.restype, self.set.argtypes = None, [ctypes.c_int]
        self.config = self._string(lib, f"{prefix}get_config{suffix}")
        self.core = self._string(lib, f"{prefix}get_corename{suffix}")

    @staticmethod
    def _string(lib: ctypes.CDLL, name: str) -> str | None:
        """The string a ``char *f(void)`` of the library returns, or None if it has no ``f``."""
        f = getattr(lib, name, None)
        if f is None:
            return None
        f.restype, f.argtypes = ctypes.c_char_p, []
        return f().decode(errors="replace").strip()


@functools.cache
def _openblas() -> _OpenBLAS | None:
    for path in _candidate_paths():
        try:
            lib = ctypes.CDLL(path)  # already mapped: this returns the loaded copy
        except OSError:
            continue
        for prefix, suffix in _NAMES:
            try:
                return _OpenBLAS(path, lib, prefix, suffix)
            except AttributeError:
                continue
    return None


def num_threads() -> int | None:
    """The number of threads OpenBLAS uses for NumPy's products, or None if unknown."""
    lib = _openblas()
    return None if lib is None else int(lib.get())


def set_num_threads(n: int) -> int | None:
    """Make OpenBLAS use ``n`` (>= 1) threads; return the previous count (None if unknown,
    in which case nothing was changed)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive integer, got {n!r}")
    lib = _openblas()
    if lib is None:
        return None
    previous = int(lib.get())
    lib.set(n)
    return previous


def info() -> dict:
    """``{"library", "config", "core", "num_threads", "env"}`` for run records; None where
    unknown. ``core`` is the CPU kernel OpenBLAS chose; ``env`` is ``OPENBLAS_NUM_THREADS`` as
    set when this was called (None if unset)."""
    lib = _openblas()
    return {
        "library": None if lib is None else os.path.basename(lib.path),
        "config": None if lib is None else lib.config,
        "core": None if lib is None else lib.core,
        "num_threads": num_threads(),
        "env": os.environ.get("OPENBLAS_NUM_THREADS"),
    }


__all__ = ["info", "num_threads", "set_num_threads"]
