"""benchmarks/reached_by.py: which seeds' evaluations reached a return by a budget, from
bench_thresholds.py results. The counts in benchmarks/results/thresholds_tres/es_optimizer/README.md
rest on these readings, checked here on hand-made results whose answers are known."""

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import reached_by as rb  # noqa: E402


def run(label, seed, timesteps, evals, env="Walker2d-v5"):
    return {"env_id": env, "algo": "es", "label": label, "seed": seed, "hits": {},
            "curve": {"timesteps": timesteps, "eval": evals}}


def test_best_by_counts_only_evaluations_within_the_budget():
    r = run("es", 0, [1e5, 2e5, 3e5], [400.0, float("nan"), 2000.0])
    assert rb.best_by(r, 2e5) == 400.0  # the NaN is skipped, 3e5 is past the budget
    assert rb.best_by(r, 3e5) == 2000.0
    assert rb.best_by(r, 5e4) is None


def test_tally_and_fisher_on_the_seeds_both_ran():
    runs = [run("es", s, [1e5, 2e5], [500.0, 1600.0 if s < 3 else 600.0]) for s in range(6)]
    runs += [run("sgd", s, [1e5, 2e5], [500.0, 550.0]) for s in range(4)]  # seeds 0-3 only, none reached
    rows = rb.tally(runs, 1500, 2e5)
    assert rows[("Walker2d-v5", "es")]["reached"] == [0, 1, 2]
    assert rows[("Walker2d-v5", "sgd")]["reached"] == []
    c = rb.compare(rows[("Walker2d-v5", "sgd")], rows[("Walker2d-v5", "es")])
    # on seeds 0-3: 0 of 4 against 3 of 4, 3 reached in all; the hypergeometric P(k of them in the
    # first row) = C(4, k) C(4, 3 - k) / C(8, 3) is 4/56 at k = 0 and 3, 24/56 at 1 and 2, so the
    # two-sided p (the tables no likelier than the one observed) is 8/56
    assert (c["seeds"], c["count"], c["against_count"]) == (4, 0, 3)
    assert c["p"] == pytest.approx(8 / 56)
    # the bests: 550 on seeds 0-3 against 1600, 1600, 1600, 600: lower on all four; the exact
    # signed-rank test of four differences of one sign gives 2 / 2^4
    assert c["higher"] == 0 and c["p_best"] == pytest.approx(2 / 16)
    assert rb.tally(runs, 1500, 1e5)[("Walker2d-v5", "es")]["reached"] == []  # not by 1e5


def test_command_line_writes_the_tally(tmp_path, capsys):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"runs": [run("es", 0, [1e5], [1600.0]), run("sgd", 0, [1e5], [700.0])]}))
    out = tmp_path / "t.json"
    assert rb.main([str(path), "--return", "1500", "--by", "2e5", "--against", "es", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Walker2d-v5 es: 1 of 1 (seeds [0])" in text and "Walker2d-v5 sgd: 0 of 1" in text
    rows = json.loads(out.read_text())["rows"]
    assert [r["label"] for r in rows] == ["es", "sgd"] and rows[1]["against"]["against_count"] == 1
    with pytest.raises(SystemExit):
        rb.main([str(path), "--return", "1500", "--by", "2e5", "--against", "nope"])
