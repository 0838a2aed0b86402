"""Text table, JSON and the Markdown + PNG report of a run."""

from __future__ import annotations

import json
import math
from pathlib import Path

from proofs_check.runner import DISCOUNT_RANGES, ClaimResult

COLUMNS = ("id", "source", "instances", "violations", "min slack", "tightness", "seconds", "status")


def _fmt(x, spec="{:.3g}"):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if spec.endswith("f}") and abs(x) >= 100:  # a violated bound can be exceeded by orders of magnitude
        return "{:.2e}".format(x)
    return spec.format(x)


#: The papers' file names (``shared/papers/``, which a clone does not ship) with their short
#: name for the table and the citation a reader can look up.
PAPERS = {
    "trpo-trust-region-policy-optimization.txt": ("trpo", "TRPO (Schulman et al. 2015)"),
    "stro-stochastic-trust-region-framework.txt": ("stro", "STRO (Zhao, Li & Wen)"),
    "trefree-trust-region-free-policy-optimization.txt": ("trefree", "TREFree (Sun et al.)"),
    "tres-trust-region-evolution-strategies.txt": ("tres", "TRES (Liu et al. 2019)"),
    "slides-policy-gradients-gae-npg-trpo.txt": ("slides", "Lovatto's policy-gradient slides (2019)"),
}


def _named(src: str, which: int) -> str:
    for name, names in PAPERS.items():
        src = src.replace(name, names[which])
    return src


def cite(src: str) -> str:
    """A claim's ``source`` with each paper's file name replaced by its citation (:data:`PAPERS`)."""
    return _named(src, 1)


def _short_source(src: str, width: int = 34) -> str:
    src = _named(src, 0)
    return src if len(src) <= width else src[: width - 1] + "~"


def status_label(r: ClaimResult) -> str:
    """``verdict`` (see :attr:`ClaimResult.verdict`), ``documented`` for an expected violation,
    ``(expected ...)`` when the status is not the documented one."""
    v = r.verdict
    if r.status != r.expected:
        return f"{v} (expected {r.expected})"
    if r.status == "violated":
        return v[:-1] + ", documented)"
    return v


#: Printed under the table: how the ``instances`` cells add up.
INSTANCES_NOTE = ("instances: random + adversarial search [+ stored regression instances]; --instances N sets the "
                  "random ones (capped for expensive claims)\ntightness: the largest gap / bound found, at any discount; "
                  "--json and --report give it per discount range\nmin slack: slack / the instance's scale (e.g. max|r| / (1 - gamma)); "
                  "a negative one of round-off size where the bound itself is round-off (e.g. pit = pi) is no violation")


#: Printed under the table when some claim holds only within round-off.
ROUNDOFF_NOTE = ("holds (within round-off): the worst instance exceeds the bound (tightness > 1, negative slack) by less "
                 "than the round-off bound tol = rtol*scale + atol of its floating-point computation; not a violation, "
                 "and not evidence of slack either")


def instances_cell(r: ClaimResult) -> str:
    """``"2000+896"``: random + adversarial-search instances, ``"+k"`` stored regressions when there are some."""
    cell = f"{r.random_instances}+{r.adversarial_instances}"
    return cell + (f"+{r.regression_instances}" if r.regression_instances else "")


def counterexample_line(r: ClaimResult, json_path: str | None, width: int = 400) -> str:
    """One line with the claim's counterexample, cut at ``width`` characters with ``...`` and a
    pointer to where the full instance is (the ``--json`` file, or how to get one)."""
    line = f"  {r.id}: counterexample {r.counterexample['instance']}"
    if len(line) <= width:
        return line
    where = f"full counterexample in {json_path}" if json_path else "full counterexample: rerun with --json PATH"
    return line[: width - 3] + f"... ({where})"


def table(results: list[ClaimResult]) -> str:
    rows = [COLUMNS]
    for r in results:
        rows.append((r.id, _short_source(r.source), instances_cell(r), str(r.violations), _fmt(r.min_slack, "{:.2e}"),
                     _fmt(r.tightness, "{:.4f}"), f"{r.seconds:.1f}", status_label(r)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = []
    for k, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json(results: list[ClaimResult], path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    rows = [r.as_json() | {"source": cite(r.source)} for r in results]  # the papers' citations, as --list prints
    Path(path).write_text(json.dumps(rows, indent=1) + "\n")


def plot(results: list[ClaimResult], path) -> None:
    """Horizontal bars of the worst tightness (gap / bound) per inequality; violated claims in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results if r.tightness == r.tightness and r.tightness is not None and math.isfinite(r.tightness)]
    rows.sort(key=lambda r: r.tightness)
    fig, ax = plt.subplots(figsize=(8.5, 0.32 * len(rows) + 1.6))
    y = range(len(rows))
    vals = [min(r.tightness, 2.0) for r in rows]
    colors = ["#c0392b" if r.status == "violated" else ("#2e86c1" if r.tightness > 0.5 else "#85c1e9") for r in rows]
    ax.barh(list(y), vals, color=colors)
    rand = [min(r.tightness_random, 2.0) if math.isfinite(r.tightness_random) else 0.0 for r in rows]
    ax.scatter(rand, list(y), marker="|", color="k", s=80, label="best random instance", zorder=3)
    ax.axvline(1.0, color="k", lw=1, ls="--")
    ax.set_yticks(list(y))
    ax.set_yticklabels([r.id for r in rows], fontsize=8)
    ax.set_xlabel("worst tightness found = gap / bound  (1 = bound attained, > 1 = violated; clipped at 2)")
    ax.set_title("How tight is each inequality? (bar: after adversarial search; tick: random instances)", fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(results: list[ClaimResult], *, instances: int, seed: int, seconds: float, claims_by_id: dict) -> str:
    ok = all(r.ok for r in results)
    n_viol = sum(r.status == "violated" for r in results)
    out = [
        "# proofs_check report",
        "",
        f"{len(results)} claim{'' if len(results) == 1 else 's'}, up to {instances} random instances each plus stored "
        "regressions and an "
        f"adversarial search for inequalities (seed {seed}); {seconds:.0f} s in all. "
        f"**{'Every claim has its documented status.' if ok else 'SOME CLAIMS DO NOT HAVE THEIR DOCUMENTED STATUS.'}** "
        + (f"{n_viol} claim(s) are violated (findings below; a documented finding says whether its counterexample "
         f"satisfies every assumption of the paper's statement, a paper error, or drops one, a generalization "
         f"that fails)." if n_viol else "No claim is violated."),
        "",
        "![tightness per inequality](tightness.png)",
        "",
        "Tightness is `gap / bound` at the worst instance found: 1 means the bound is attained, values near 0 "
        "mean the bound is loose on every instance tried. Min slack is relative to each instance's scale "
        "(e.g. `max|r|/(1-gamma)`); identities report minus their largest relative error. "
        "\"holds (within round-off)\": " + ROUNDOFF_NOTE.split(": ", 1)[1] + ".",
        "",
        "The tightness by discount is the largest `gap / bound` among the instances whose discount lies in "
        f"{', '.join(DISCOUNT_RANGES)} (claims with a discount): a bound attained as `gamma -> 0` may be loose "
        "at the discounts used in practice.",
        "",
        f"| id | kind | source | instances | violations | min slack | tightness | tightness by discount "
        f"{' / '.join(DISCOUNT_RANGES)} | s | status |",
        "|---|---|---|---:|---:|---:|---:|---|---:|---|",
    ]
    for r in results:
        by = " / ".join(_fmt(r.tightness_by_discount.get(k, float("nan")), "{:.3f}") for k in DISCOUNT_RANGES) \
            if r.tightness_by_discount else ""
        out.append(f"| `{r.id}` | {r.kind} | {cite(r.source)} | {r.instances} | {r.violations} | {_fmt(r.min_slack, '{:.1e}')} | "
                   f"{_fmt(r.tightness, '{:.3f}')} | {by} | {r.seconds:.1f} | {status_label(r)} |")
    findings = [r for r in results if r.status == "violated" or r.error]
    if findings:
        out += ["", "## Findings: violated claims", ""]
        for r in findings:
            c = claims_by_id.get(r.id)
            out += [f"### `{r.id}` ({cite(r.source)})", "", f"Statement checked: {c.statement if c else ''}", ""]
            if r.error:
                out += [f"Error: `{r.error}`", ""]
            if c is not None and c.notes:
                out += [c.notes, ""]
            if r.counterexample:
                ce = r.counterexample
                inst = json.dumps(ce["instance"])
                out += [f"Minimal counterexample (found by {ce.get('found_by')} search, shrunk; slack {ce['slack']:.4g}, "
                        f"tolerance {ce['tol']:.2g}):", "", "```json", inst if len(inst) < 3000 else inst[:3000] + " ...", "```", ""]
                cert = ce.get("certificate")
                if cert:
                    sides = ", ".join(f"{k} = {v}" for k, v in cert["sides"].items())
                    out += [f"Exact certificate (the instance in exact rationals, `python -m proofs_check --certify {r.id}` "
                            f"re-checks it): slack = {cert['slack_upper']} < 0" if cert["slack_lower"] == cert["slack_upper"]
                            else f"Exact certificate (the instance in exact rationals, `python -m proofs_check --certify {r.id}` "
                            f"re-checks it): slack <= {cert['slack_upper']} < 0", "", f"({sides})", ""]
                else:
                    out += ["No exact evaluator for this claim: the violation is established in floating point "
                            "(slack far below the round-off tolerance), not by an exact certificate.", ""]
    notes = [(r, claims_by_id.get(r.id)) for r in results if r.status != "violated"]
    notes = [(r, c) for r, c in notes if c is not None and c.notes]
    if notes:
        out += ["## Notes on claims that hold", ""]
        for r, c in notes:
            out += [f"- `{r.id}`: {c.notes}"]
    out.append("")
    return "\n".join(out)


def write_report(results, directory, *, instances, seed, seconds, claims_by_id) -> Path:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    plot(results, d / "tightness.png")
    write_json(results, d / "results.json")
    path = d / "README.md"
    path.write_text(markdown(results, instances=instances, seed=seed, seconds=seconds, claims_by_id=claims_by_id))
    return path
