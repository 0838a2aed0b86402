"""Which seeds reached a return by a budget: counts per configuration from ``bench_thresholds.py`` results.

The thresholds table counts the papers' thresholds over a run's whole budget. Questions about a
trap need other cuts: on Walker2d-v5 a run that *lunges* (throws itself forward and falls, an
evaluation of 300-900) and one that has left the lunge for a gait (above 1500) look alike in the
papers' thresholds until much later. For each run of the given ``--json`` files this reads its
evaluation curve (the environment's own return of the mean policy, ``curve`` in the JSON) and asks
whether some evaluation at or before ``--by`` timesteps reached ``--return``; per environment and
label it prints

* ``reached``: the seeds that did, out of the seeds run (``which``: their seed numbers);
* ``best``: the median over seeds of the best evaluation up to ``--by``;

and, with ``--against LABEL``, on the seeds both ran (a seed is a paired trial: the same noise and
resets), Fisher's exact test (two-sided) of each label's count against that label's, and the
seeds on which its best evaluation is the higher, with the Wilcoxon signed-rank test (two-sided)
of the paired best evaluations.

    python benchmarks/reached_by.py RESULTS.json ... --return 1500 --by 2000000 [--against es] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import numpy as np
from scipy.stats import fisher_exact, wilcoxon

from _provenance import code_version
from bench_thresholds import load


def best_by(run: dict, by: float) -> float | None:
    """The best evaluation of ``run`` at or before ``by`` training timesteps (None: none there)."""
    t, ev = np.asarray(run["curve"]["timesteps"], float), np.asarray(run["curve"]["eval"], float)
    ev = ev[(t <= by) & np.isfinite(ev)]
    return float(ev.max()) if ev.size else None


def tally(runs: list[dict], ret: float, by: float) -> dict:
    """Per ``(env_id, label)``: ``best``, ``{seed: best evaluation up to by}``, and ``reached``, the
    seeds whose best is at least ``ret`` (sorted)."""
    best = defaultdict(dict)
    for r in runs:
        b = best_by(r, by)
        if b is not None:
            best[(r["env_id"], r["label"])][int(r["seed"])] = b
    return {key: {"best": dict(sorted(seeds.items())), "reached": sorted(s for s, b in seeds.items() if b >= ret)}
            for key, seeds in sorted(best.items())}


def compare(row: dict, base: dict) -> dict:
    """``row`` against ``base`` on the seeds both ran: Fisher's exact test of the counts (``p``), how
    many seeds ``row``'s best is the higher on (``higher``) and the signed-rank test of the bests
    (``p_best``; NaN when every pair is equal)."""
    common = sorted(set(row["best"]) & set(base["best"]))
    a, b = sum(s in row["reached"] for s in common), sum(s in base["reached"] for s in common)
    n = len(common)
    p = float(fisher_exact([[a, n - a], [b, n - b]])[1]) if n else float("nan")
    diff = np.array([row["best"][s] - base["best"][s] for s in common])
    p_best = float(wilcoxon(diff).pvalue) if np.any(diff != 0) else float("nan")
    return {"seeds": n, "count": a, "against_count": b, "p": p, "higher": int(np.sum(diff > 0)), "p_best": p_best}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("json_files", nargs="+", help="bench_thresholds.py --json files (glob patterns)")
    ap.add_argument("--return", dest="ret", type=float, required=True, help="the return to reach")
    ap.add_argument("--by", type=float, required=True, help="within this many training timesteps")
    ap.add_argument("--against", help="label to test every other label's count against")
    ap.add_argument("--json", help="write the tally here")
    args = ap.parse_args(argv)
    rows = tally(load(args.json_files), args.ret, args.by)
    bases = {env: row for (env, label), row in rows.items() if label == args.against}
    if args.against and not bases:
        ap.error(f"--against: no runs labelled {args.against!r}")
    out = []
    print(f"evaluation >= {args.ret:g} by {args.by:g} timesteps")
    for (env, label), row in rows.items():
        n, k = len(row["best"]), len(row["reached"])
        line = {"env_id": env, "label": label, "seeds": n, "reached": k, "which": row["reached"],
                "median_best": float(np.median(list(row["best"].values())))}
        if env in bases and label != args.against:
            line["against"] = {"label": args.against, **compare(row, bases[env])}
        out.append(line)
        test = ""
        if "against" in line:
            c = line["against"]
            test = (f"  vs {args.against} {c['count']}/{c['seeds']} against {c['against_count']}/{c['seeds']}, "
                    f"p = {c['p']:.2g}; best higher on {c['higher']} of {c['seeds']}, p = {c['p_best']:.2g}")
        print(f"{env} {label}: {k} of {n} (seeds {row['reached']}), median best {line['median_best']:.0f}{test}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"code_version": code_version(), "return": args.ret, "by": args.by, "rows": out}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
