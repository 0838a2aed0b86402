"""Throughput of proofs_check: bound.trpo-tv checked on batches vs one instance at a time.

Both runs use the claim's own ``check`` (exact evaluation by batched linear solves in the
library's ``tabular.evaluate``) on the same instances, in the same process; the ratio is
what batching buys. Run: ``.venv/bin/python benchmarks/bench_proofs_check.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from proofs_check import draws, get
from proofs_check.runner import take


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--instances", type=int, default=20000, help="instances checked in one batch")
    ap.add_argument("--loop-instances", type=int, default=1000,
                    help="the first this many of them also checked one at a time (at most --instances)")
    ap.add_argument("--states", type=int, default=4, help="states of each random MDP")
    ap.add_argument("--actions", type=int, default=3, help="actions of each random MDP")
    args = ap.parse_args(argv)
    claim = get("bound.trpo-tv")
    rng = np.random.default_rng(0)
    (batch,) = draws.tabular(rng, args.instances, sizes=((args.states, args.actions),), size_weights=[1.0],
                             chunk=args.instances)
    claim.check(take(batch, slice(0, 10)))  # warm-up

    t0 = time.perf_counter()
    out = claim.check(batch)
    t_batch = time.perf_counter() - t0

    m = min(args.loop_instances, args.instances)
    t0 = time.perf_counter()
    slack_loop = np.array([claim.check_one(take(batch, i)).slack[0] for i in range(m)])
    t_loop = time.perf_counter() - t0
    assert np.allclose(slack_loop, out.slack[:m], rtol=1e-9, atol=1e-12), "batched and looped checks disagree"

    rate_batch = args.instances / t_batch
    rate_loop = m / t_loop
    print(f"bound.trpo-tv, S={args.states}, A={args.actions}")
    print(f"  batched : {args.instances:7d} instances in {t_batch:7.3f} s = {rate_batch:10.0f} instances/s")
    print(f"  loop    : {m:7d} instances in {t_loop:7.3f} s = {rate_loop:10.0f} instances/s")
    print(f"  speed-up: {rate_batch / rate_loop:.1f}x")
    return rate_batch / rate_loop


if __name__ == "__main__":
    main()
