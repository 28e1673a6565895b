"""What the benchmarks ran on: CPU, cores, NumPy and its BLAS (library, kernel, threads), torch.

The BLAS thread count comes from threadpoolctl when it is installed; otherwise from the
OpenBLAS that NumPy wheels bundle, through its C API (``*_get_num_threads``). Either way the
benchmarks give PyTorch the same number of threads as NumPy's BLAS, so the comparison is fair.
"""

from __future__ import annotations

import ctypes
import glob
import os
import platform
import subprocess
import sys
import time

import numpy as np


def _bundled_openblas() -> ctypes.CDLL | None:
    """The OpenBLAS shared library that NumPy's wheel ships in ``numpy.libs``, if any."""
    libs_dir = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in sorted(glob.glob(os.path.join(libs_dir, "*openblas*.so*"))):
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


def _openblas_function(lib: ctypes.CDLL, stem: str):
    """``stem`` under the names OpenBLAS builds use (plain, scipy-openblas, 64-bit suffix)."""
    for name in (f"openblas_{stem}", f"scipy_openblas_{stem}64_", f"openblas_{stem}64_"):
        if hasattr(lib, name):
            return getattr(lib, name)
    return None


def blas_info() -> dict:
    """Name, version, kernel (core type) and thread count of NumPy's BLAS, as far as known."""
    info: dict = {"source": "unknown"}
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info.update(name=cfg.get("name"), version=cfg.get("version"))
    except Exception:  # noqa: BLE001 - an older NumPy has no mode="dicts"; keep what we have
        pass
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                info.update(
                    source="threadpoolctl",
                    threads=pool.get("num_threads"),
                    kernel=pool.get("architecture"),
                    internal_api=pool.get("internal_api"),
                    version=pool.get("version", info.get("version")),
                )
                return info
    except ImportError:
        pass
    lib = _bundled_openblas()
    if lib is not None:
        get_threads = _openblas_function(lib, "get_num_threads")
        get_core = _openblas_function(lib, "get_corename")
        if get_threads is not None:
            get_threads.restype = ctypes.c_int
            info["threads"] = int(get_threads())
            info["source"] = "bundled OpenBLAS C API"
        if get_core is not None:
            get_core.restype = ctypes.c_char_p
            info["kernel"] = get_core().decode()
    return info


def set_blas_threads(n: int) -> bool:
    """Set NumPy's BLAS threads (threadpoolctl or the bundled OpenBLAS); False if impossible."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n, user_api="blas")
        return True
    except ImportError:
        pass
    lib = _bundled_openblas()
    setter = None if lib is None else _openblas_function(lib, "set_num_threads")
    if setter is None:
        return False
    setter.argtypes = [ctypes.c_int]
    setter(int(n))
    return True


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict:
    info = {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_average_1_5_15": list(os.getloadavg()),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "blas": blas_info(),
        "env": {
            k: os.environ[k]
            for k in (
                "OPENBLAS_CORETYPE",
                "OPENBLAS_L2_SIZE",
                "OMP_NUM_THREADS",
                "OPENBLAS_NUM_THREADS",
            )
            if k in os.environ
        },
    }
    try:
        import torch

        info["torch"] = {"version": torch.__version__, "threads": torch.get_num_threads()}
    except ImportError:
        info["torch"] = None
    return info
