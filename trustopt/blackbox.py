"""Removed: the ask/tell classes are in :mod:`trustopt.asktell` (``trustopt.ES``, ``trustopt.TRES``,
...), their options next to their factories in :mod:`trustopt.algorithms`.

This module only turns an old import or an old pickle (``trustopt.blackbox.TRES``) into one clear
``ImportError`` instead of an ``AttributeError``.
"""


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    raise ImportError(
        f"trustopt.blackbox.{name}: trustopt.blackbox was replaced by trustopt.asktell in trustopt 0.2 (use "
        f"trustopt.{name} for the public names); an optimizer pickled by trustopt 0.1 cannot be resumed by this "
        "version: resume it with trustopt 0.1, or start a new run")
