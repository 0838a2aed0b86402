"""Command line: ``python -m proofs_check [--claim ID ...] [--instances N] [--seed S] [--json PATH]
[--extra FILE.py] [--report DIR]``.

Prints one row per claim (id, source, instances, violations, min slack, tightness, seconds,
status) with a progress bar; exits 0 when every claim has its documented status, 1 otherwise.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

from proofs_check import registry
from proofs_check.report import (INSTANCES_NOTE, ROUNDOFF_NOTE, cite, counterexample_line, table, write_json,
                                  write_report)
from proofs_check.runner import REGRESSIONS_DIR, run_claim


class ExtraError(Exception):
    """A ``--extra`` file that cannot be loaded (the message is one line, printed as the CLI's error)."""


def load_extra(path: str) -> list[str]:
    """Execute a user file that calls :func:`proofs_check.register`; returns the new claim ids.

    Raises :class:`ExtraError` (one line) when the file is missing or raises while it runs,
    e.g. registering an id that is already registered."""
    before = set(c.id for c in registry.all_claims())
    p = Path(path)
    if not p.is_file():
        raise ExtraError(f"--extra: no such file: {path}")
    spec = importlib.util.spec_from_file_location(f"proofs_check_extra_{p.stem}", p)
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    except Exception as exc:  # the user's file: report it in one line, never a traceback of ours
        raise ExtraError(f"--extra {path}: {type(exc).__name__}: {exc}") from None
    return [c.id for c in registry.all_claims() if c.id not in before]


def _not_a_folder(folder: Path) -> str | None:
    """``folder`` or one above it exists as a file (so it cannot be created as a folder), or None."""
    for f in (folder, *folder.parents):
        if f.exists():
            return None if f.is_dir() else f"{f} exists and is not a folder"
    return None


def _unwritable(path: str) -> str | None:
    """Why ``path`` cannot be written (its folder is created, as :func:`write_json` does), or None."""
    p = Path(path)
    if p.is_dir():
        return f"{path} is a folder"
    bad = _not_a_folder(p.parent)
    if bad:
        return bad
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        existed = p.exists()
        with open(p, "a"):
            pass
        if not existed:
            p.unlink()
    except OSError as exc:
        return f"cannot write {path}: {exc.strerror or exc}"
    return None


def _stored(key: str, directory):
    """``[(claim_id, instance)]`` for ``--certify KEY``: a JSON file (a regression file, or a --json
    list of results with counterexamples) or a claim id (its stored regression instances)."""
    import json

    from proofs_check.runner import from_jsonable, load_regressions

    p = Path(key)
    if key.endswith(".json") and p.is_file():
        data = json.loads(p.read_text())
        if isinstance(data, dict) and "claim" in data:
            return [(data["claim"], from_jsonable(data["instance"]))]
        return [(d["id"], from_jsonable(d["counterexample"]["instance"])) for d in data if d.get("counterexample")]
    return [(key, inst) for inst in load_regressions(key, directory)]


def certify_main(keys, directory) -> int:
    """``--certify``: each stored counterexample made rational and its slack evaluated exactly."""
    from proofs_check._rational import as_text
    from proofs_check.runner import certify

    ok = True
    for key in keys:
        if not key.endswith(".json"):
            try:
                registry.get(key)
            except KeyError as exc:
                print(f"python -m proofs_check: error: --certify: {exc.args[0]}", file=sys.stderr)
                return 2
        found = _stored(key, directory)
        if not found:
            print(f"python -m proofs_check: error: --certify: no stored counterexample for {key!r}", file=sys.stderr)
            return 2
        for cid, inst in found:
            try:
                claim = registry.get(cid)
            except KeyError as exc:
                print(f"python -m proofs_check: error: --certify: {exc.args[0]}", file=sys.stderr)
                return 2
            cert, why = certify(claim, inst)
            if cert is None:
                ok = False
                print(f"{cid}: NOT certified ({why})")
                continue
            exact = cert.lower is not None and cert.lower == cert.upper
            slack = f"slack = {as_text(cert.upper)}" if exact else f"slack <= {as_text(cert.upper)} (~{float(cert.upper):.6g})"
            sides = ", ".join(f"{k} = {as_text(v)}" for k, v in cert.sides.items())
            if cert.violated:
                print(f"{cid}: violated (exact): {slack} < 0 on the instance {as_text(dict(cert.instance))}\n    ({sides})")
            else:
                ok = False
                print(f"{cid}: NOT violated on exact rationals: {slack} ({sides})")
    return 0 if ok else 1


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors: one line, exit 2 (the usage is for -h)
        hint = "" if "(see " in message else f" (see '{self.prog} -h')"
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}{hint}\n")


def _unusable_folder(path: str) -> str | None:
    """Why ``path`` cannot be the --report folder (created here if it is missing), or None."""
    d = Path(path)
    bad = _not_a_folder(d)
    if bad:
        return bad
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create {path}: {exc.strerror or exc}"
    return _unwritable(str(d / "README.md"))


def main(argv=None) -> int:
    ap = _Parser(prog="python -m proofs_check", description=" ".join(__doc__.split("\n\n")[1].split()))
    ap.add_argument("--claim", nargs="+", action="extend", metavar="ID", help="claims to run (default: all; a prefix like 'tres.' selects a group)")
    ap.add_argument("--instances", type=int, default=1000, help="random instances per claim (capped for expensive claims); the adversarial search and "
                    "stored regressions add more, shown as random+search[+stored] in the table")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", metavar="PATH", help="write the results as a JSON list")
    ap.add_argument("--extra", metavar="FILE.py", action="append", default=[], help="load more claims from a file")
    ap.add_argument("--report", metavar="DIR", help="write a Markdown report with a tightness plot")
    ap.add_argument("--no-search", action="store_true", help="skip the adversarial search")
    ap.add_argument("--save-regressions", metavar="DIR", nargs="?", const=str(REGRESSIONS_DIR), default=None,
                    help="store shrunk counterexamples as regression instances (default dir: proofs_check/regressions)")
    ap.add_argument("--list", action="store_true", help="list the claims and exit")
    ap.add_argument("--certify", metavar="ID", nargs="+",
                    help="re-check stored counterexamples exactly: ID is a claim id (its instances in "
                         "proofs_check/regressions/, or in --save-regressions DIR) or a JSON file written by "
                         "--save-regressions or --json; exit 0 iff every one is proved violated on exact rationals")
    args = ap.parse_args(argv)
    if args.instances < 1:
        ap.error(f"--instances: must be >= 1, got {args.instances}")
    if args.seed < 0:
        ap.error(f"--seed: must be >= 0, got {args.seed}")
    for flag, err in (("--json", args.json and _unwritable(args.json)),  # fail before the run, not after it
                      ("--report", args.report and _unusable_folder(args.report))):
        if err:
            print(f"python -m proofs_check: error: {flag}: {err}", file=sys.stderr)
            return 2

    claims = registry.all_claims()
    seen = {}
    for path in args.extra:
        key = Path(path).resolve()
        if key in seen:
            print(f"python -m proofs_check: error: --extra: {path} is given twice (its claims would be registered twice)",
                  file=sys.stderr)
            return 2
        seen[key] = path
        try:
            load_extra(path)
        except ExtraError as exc:
            print(f"python -m proofs_check: error: {exc}", file=sys.stderr)
            return 2
    claims = registry.all_claims()
    if args.claim:
        chosen = []
        for key in args.claim:
            match = [c for c in claims if c.id == key] or [c for c in claims if c.id.startswith(key)]
            if not match:
                ap.error(f"--claim: unknown claim id {key!r}{registry.unknown_id_hint(key)}")
            chosen += [c for c in match if c not in chosen]
        claims = chosen
    if args.certify:
        return certify_main(args.certify, Path(args.save_regressions) if args.save_regressions else None)
    if args.list:
        width = max(len(c.id) for c in claims) if claims else 0
        for c in claims:
            print(f"{c.id:{width}s}  {c.kind:11s} {c.expected:9s} {cite(c.source)}\n{'':{width}s}  {c.statement}")
        return 0

    from tqdm import tqdm

    t0 = time.perf_counter()
    results = []
    bar = tqdm(claims, desc="claims", unit="claim", file=sys.stderr, dynamic_ncols=True, leave=False,
               disable=not sys.stderr.isatty())  # no progress lines in a log file
    for c in bar:
        bar.set_postfix_str(c.id)
        r = run_claim(c, args.instances, args.seed, search=not args.no_search,
                      save=args.save_regressions is not None,
                      regressions_dir=Path(args.save_regressions) if args.save_regressions else None)
        results.append(r)
        if not r.ok:
            tqdm.write(f"{c.id}: {r.status} (expected {c.expected})" + (f" -- {r.error}" if r.error else ""), file=sys.stderr)
    bar.close()
    seconds = time.perf_counter() - t0
    print(table(results))
    for r in results:
        if (r.counterexample or {}).get("stored_as"):
            print(f"{r.id}: counterexample stored as {r.counterexample['stored_as']}")
    print(INSTANCES_NOTE)
    if any(r.within_roundoff for r in results):
        print(ROUNDOFF_NOTE)
    ok = all(r.ok for r in results)
    n_bad = sum(not r.ok for r in results)
    print(f"\n{len(results)} claim{'' if len(results) == 1 else 's'} in {seconds:.1f} s: "
          + ("every claim has its documented status." if ok else f"{n_bad} claim(s) do NOT have their documented status."))
    for r in results:
        if r.counterexample and r.status == "violated":
            print(counterexample_line(r, args.json))
    try:
        if args.json:
            write_json(results, args.json)
        if args.report:
            path = write_report(results, args.report, instances=args.instances, seed=args.seed, seconds=seconds,
                                claims_by_id={c.id: c for c in claims})
            print(f"report: {path}")
    except OSError as exc:
        print(f"python -m proofs_check: error: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `--list | head`: the reader left; no traceback (Python docs, "Note on SIGPIPE")
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
