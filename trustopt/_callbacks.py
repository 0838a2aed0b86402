"""The one callback convention of trustopt (``minimize``, ``run``, ``train``), scipy.optimize's.

A callback whose only parameter is named ``intermediate_result`` receives the intermediate
result object; any other callback is called the legacy way, ``callback(xk)``, with the
current point. Either form stops the run by raising ``StopIteration`` or by returning a
truthy value (scipy.optimize.minimize, "callback", SciPy >= 1.11).
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
        if not out:
            return None
        return "returned True" if out is True or isinstance(out, np.bool_) else f"returned a true {type(out).__name__}"


def _takes_intermediate_result(callback: Callable) -> bool:
    try:
        params = inspect.signature(callback).parameters
    except (TypeError, ValueError):  # a builtin without a signature: the legacy form
        return False
    return set(params) == {"intermediate_result"}
