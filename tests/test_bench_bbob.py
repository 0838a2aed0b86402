"""benchmarks/bench_bbob.py's summary of committed runs (no ioh or cma needed): the ECDF area, its
paired per-function differences and the README's per-function table, checked on records whose
areas are known in closed form."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import bench_bbob as bb  # noqa: E402

D = 10
N_T = len(bb.TARGETS)


def _record(solver, fid, iid, hit_at):
    """A run that reaches every target at ``hit_at`` evaluations (None: reaches none)."""
    hits = [hit_at] * N_T
    return {"solver": solver, "fid": fid, "iid": iid, "d": D, "seed": 0, "budget": 10_000 * D,
            "reached": 0 if hit_at is None else N_T, "hits": hits, "seconds": 0.0, "evals": 10_000 * D}


def _records():
    # f1: ours at 1e2 d (area 1), pycma at 1e3 d (area 1/2), on every instance: +0.5 exactly.
    # f2: both at 1e3 d: 0. f3: ours never, pycma at 1e4 d (area 0, reached): 0 in area.
    rs = []
    for iid in (1, 2, 3):
        rs += [_record("tr-cma-bipop-orth", 1, iid, 100 * D), _record("cma-bipop", 1, iid, 1000 * D)]
        rs += [_record("tr-cma-bipop-orth", 2, iid, 1000 * D), _record("cma-bipop", 2, iid, 1000 * D)]
        rs += [_record("tr-cma-bipop-orth", 3, iid, None), _record("cma-bipop", 3, iid, 10_000 * D)]
    return rs


def test_per_function_area_difference_is_the_closed_form():
    s = bb.summarize(_records())[str(D)]["solvers"]
    pf = s["tr-cma-bipop-orth"]["vs_cma-bipop"]["per_function_auc_diff"]
    assert pf["1"] == pytest.approx([0.5, 0.5, 0.5])
    assert pf["2"] == pytest.approx([0.0, 0.0, 0.0])
    assert pf["3"] == pytest.approx([0.0, 0.0, 0.0])
    assert s["tr-cma-bipop-orth"]["per_function"]["1"]["auc"] == pytest.approx(1.0)
    assert s["cma-bipop"]["per_function"]["1"]["auc"] == pytest.approx(0.5)
    # the per-function differences average to the overall one (equal runs per function)
    overall = s["tr-cma-bipop-orth"]["vs_cma-bipop"]["auc_diff"][0]
    assert overall == pytest.approx(np.mean([pf[f][0] for f in pf]))


def test_per_function_table_marks_only_intervals_that_exclude_zero():
    summary = bb.summarize(_records())
    table = bb.per_function_table(summary, bb.default_solver)
    rows = {line.split("|")[1].strip(): line for line in table.splitlines()[2:]}
    assert "**+0.500** [+0.500, +0.500] (153 / 153)" in rows["f1 sphere"]
    assert "**" not in rows["f2 separable ellipsoid"] and "+0.000 (153 / 153)" in rows["f2 separable ellipsoid"]
    assert "+0.000 (0 / 153)" in rows["f3 Rastrigin"]  # reached by pycma at the budget only: no area
    assert rows["all"].split("|")[2].strip().startswith("+0.167")
    assert table.splitlines()[0].count("d = 10: tr-cma-bipop-orth") == 1
    assert "cma-bipop," not in table.splitlines()[0]  # the default reference: the committed file's heading


def test_per_function_table_names_a_reference_other_than_the_default():
    """--reference tr-cma-bipop writes the same table layout; its heading must say against what."""
    rs = _records() + [dict(r, solver="tr-cma-bipop") for r in _records() if r["solver"] == "cma-bipop"]
    table = bb.per_function_table(bb.summarize(rs, "tr-cma-bipop"), bb.default_solver, "tr-cma-bipop")
    assert table.splitlines()[0].count("d = 10: tr-cma-bipop-orth - tr-cma-bipop, seed 0") == 1


def test_per_function_table_refuses_records_without_the_default_solver():
    """Runs of tr-cma and cma-bipop only: no column; an empty table (| function |  |) was written before."""
    rs = [dict(r, solver="tr-cma") if r["solver"] == "tr-cma-bipop-orth" else r for r in _records()]
    with pytest.raises(ValueError, match="d = 10: tr-cma-bipop-orth"):
        bb.per_function_table(bb.summarize(rs), bb.default_solver)


def test_default_solver_follows_the_library_rule():
    from trustopt.algorithms.trust_region_cma import ORTHOGONAL_UP_TO
    assert bb.default_solver(ORTHOGONAL_UP_TO) == "tr-cma-bipop-orth"
    assert bb.default_solver(ORTHOGONAL_UP_TO + 1) == "tr-cma-bipop-default"
