"""What a benchmark result records about the code that produced it (imported by the scripts in
this folder, which run as ``python benchmarks/<script>.py`` with this folder on ``sys.path``)."""

from __future__ import annotations

import functools
import os
import subprocess


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """The commit of the tree that ran, and whether trustopt/ had uncommitted changes, as they were
    when this module was imported (the start of the benchmark: a long run's results are written
    at its end, possibly after later commits)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "trustopt"], cwd=root, capture_output=True,
                               text=True).stdout.strip() != ""
        return f"{head}{' + uncommitted changes in trustopt/' if dirty else ''}"
    except OSError:
        return "unknown"


code_version()  # recorded at import: the tree the benchmark started from


def write_runs(path: str, rows: list, protocol: str, packages=("ioh", "cma")) -> None:
    """The raw runs of a benchmark as JSON at ``path``, with the versions of ``packages``, the code
    (:func:`code_version`) and the ``protocol`` paragraph of the script's docstring."""
    import json
    from importlib.metadata import version

    meta = {**{p: version(p) for p in packages}, "trustopt": code_version(), "protocol": protocol}
    with open(path, "w") as f:
        json.dump({"meta": meta, "runs": rows}, f, indent=1)
    print(f"raw results: {path}")

