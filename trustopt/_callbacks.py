"""The one callback convention of trustopt (``minimize``, ``run``, ``train``), scipy.optimize's.

A callback whose only parameter is named ``intermediate_result`` receives the intermediate
result object; any other callback is called the legacy way, ``callback(xk)``, with the
current point. Either form stops the run by raising ``StopIteration`` (scipy.optimize.minimize,
"callback", SciPy >= 1.11) or by returning a truthy value (scipy.optimize.differential_evolution's
convention; scipy.optimize.minimize ignores what a callback returns). A value without a truth
value (a NumPy array: ``callback=lambda xk: xk``) is a one-line error naming ``callback``.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np

from trustopt._validation import ValidationError

__all__ = ["Callback"]


class Callback:
    """``callback`` wrapped: ``Callback(callback)(intermediate_result, xk)`` is why to stop (``"raised
    StopIteration"``, ``"returned True"`` or ``"returned a true <type>"``, truthy) or None to go on."""

    def __init__(self, callback: Callable | None):
        if callback is not None and not callable(callback):
            raise ValidationError("callback: must be callable or None")
        self.callback = callback
        self.wants_result = callback is not None and _takes_intermediate_result(callback)

    def __call__(self, intermediate_result: Any, xk: Any) -> str | None:
        if self.callback is None:
            return None
        try:
            out = self.callback(intermediate_result) if self.wants_result else self.callback(xk)
        except StopIteration:
            return "raised StopIteration"
        try:
            if not out:
                return None
        except ValueError:  # NumPy's "truth value of an array ... is ambiguous"
            raise ValidationError(f"callback: returned {_described(out)}, which is neither true nor false; return "
                                  "True (or raise StopIteration) to stop the run, None to go on") from None
        return "returned True" if out is True or isinstance(out, np.bool_) else f"returned a true {type(out).__name__}"


def _takes_intermediate_result(callback: Callable) -> bool:
    try:
        params = inspect.signature(callback).parameters
    except (TypeError, ValueError):  # a builtin without a signature: the legacy form
        return False
    return set(params) == {"intermediate_result"}


def _described(value: Any) -> str:
    shape = getattr(value, "shape", None)
    return f"an array of shape {shape}" if shape is not None else f"a {type(value).__name__}"
