"""The one module that imports numba.

Every jitted kernel in trustopt is decorated with :func:`njit` from here, and each has a
pure-NumPy twin that a test compares it with (see ``trustopt.estimators``). Kernels assume
valid input: validation happens at the public boundary.
"""

from __future__ import annotations

import numba as _numba

__all__ = ["njit", "NUMBA_VERSION"]

NUMBA_VERSION: str = _numba.__version__


def njit(*args, **kwargs):
    """``numba.njit`` with ``cache=True`` by default (compiled code is cached on disk).

    Usable bare (``@njit``) or with options (``@njit(nogil=True)``); any option given
    explicitly overrides the defaults.
    """
    kwargs.setdefault("cache", True)
    if len(args) == 1 and callable(args[0]):
        return _numba.njit(**kwargs)(args[0])
    return _numba.njit(*args, **kwargs)
