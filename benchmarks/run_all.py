"""Run every benchmark in this folder (``make bench``), each in its own process.

By default each runs in its short mode (``--quick`` where the script has one; the BBOB
benchmark without ``--full``), which takes minutes on 2 cores. ``--full`` passes the
long settings: the BBOB protocol at 1e4*d evaluations and the threshold benchmark's full
budget take hours.
"""

import argparse
import pathlib
import subprocess
import sys

QUICK = {"bench_rollouts.py": ["--quick"], "bench_ray_scaling.py": ["--quick"], "bench_seeds_procs.py": ["--quick"],
         "bench_thresholds.py": ["--quick"], "bench_workers.py": ["--quick"]}
FULL = {"bench_bbob.py": ["--full"]}

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--full", action="store_true", help="long settings (hours)")
args = parser.parse_args()
here = pathlib.Path(__file__).parent
status = 0
for script in sorted(here.glob("bench_*.py")):
    extra = FULL.get(script.name, []) if args.full else QUICK.get(script.name, [])
    print(f"\n=== {script.name} {' '.join(extra)} ===", flush=True)
    status |= subprocess.call([sys.executable, str(script), *extra])
sys.exit(status)
