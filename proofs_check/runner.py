"""Run claims: random batches, stored regressions, an adversarial search, shrinking.

``run_claim(claim, n, seed)`` checks ``claim`` on about ``n`` random instances drawn by the
claim (in batches), on the regression instances stored for it, and -- for inequalities and
algorithms -- on the instances found by a generic adversarial search that maximizes the
tightness ``gap / bound`` starting from the worst random instances. When some instance
violates the claim, the most violated one is *shrunk* (states and actions deleted, entries
rounded, as long as it stays violated) and returned (and optionally stored) as the
counterexample.

The adversarial search is a batched (1 + lambda) evolution strategy with step-size
adaptation over every perturbable array of the claim's schema: probability rows move in
logit space, reals additively (relative to their size), ``unit``/``gamma`` values in logit
space of their interval. It only needs the claim's ``check``, so it works unchanged for
user claims.
"""

from __future__ import annotations

import json
import os
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from proofs_check.registry import Claim, Outcome

#: Where the built-in regression instances live (committed with the package).
REGRESSIONS_DIR = Path(__file__).with_name("regressions")

_GAMMA_MAX = 0.99


@dataclass
class ClaimResult:
    """What ``run_claim`` reports for one claim (``as_json`` gives the CLI's JSON object).

    ``instances`` counts every instance checked (random, stored regressions, and each candidate the
    adversarial search evaluated); ``violations`` counts violated instances among the random and
    regression instances and the search's final population; ``min_slack`` is the smallest
    ``slack / scale`` (relative to each instance's scale); ``tightness`` the largest ``gap / bound``
    found (after the search; ``tightness_random`` before it; ``tightness_by_discount`` the largest in
    each range of :data:`DISCOUNT_RANGES`, for a claim with a discount: the search gives each range
    its own classes, but a range it cut early is searched less); ``status`` is ``"holds"`` when no
    violation was found, ``"violated"`` otherwise (``"error"`` if the check raised, ``"unchecked"`` if
    no instance met the claim's hypotheses)."""

    id: str
    source: str
    kind: str
    expected: str
    instances: int = 0
    random_instances: int = 0
    adversarial_instances: int = 0
    regression_instances: int = 0
    invalid_instances: int = 0
    violations: int = 0
    min_slack: float = float("nan")
    tightness: float = float("nan")
    tightness_random: float = float("nan")
    tightness_by_discount: dict = field(default_factory=dict)
    seconds: float = 0.0
    counterexample: dict | None = None
    tightest: dict | None = None
    error: str | None = None
    notes: str = ""
    statement: str = ""
    certified: bool | None = None  # None: the claim has no exact evaluator
    unconfirmed_violations: int = 0  # float violations the exact evaluation did not confirm
    exact_note: str | None = None

    @property
    def status(self) -> str:
        if self.error is not None:
            return "error"
        if self.instances - self.invalid_instances <= 0:
            return "unchecked"
        return "violated" if self.violations else "holds"

    @property
    def verdict(self) -> str:
        """The status with how it is known: ``"violated (exact)"`` (a certificate proves the
        counterexample on exact rationals), ``"violated (float)"`` (the claim has no exact
        evaluator), ``"holds (within round-off)"``, ``"holds (float violations refuted exactly)"``
        or the plain status."""
        s = self.status
        if s == "violated":
            return "violated (exact)" if self.certified else "violated (float)"
        if s == "holds" and self.unconfirmed_violations:
            return "holds (float violations refuted exactly)"
        if self.within_roundoff:
            return "holds (within round-off)"
        return s

    @property
    def ok(self) -> bool:
        return self.status == self.expected

    @property
    def within_roundoff(self) -> bool:
        """``holds`` only thanks to the tolerance: the worst instance has ``gap > bound`` (tightness
        above 1; for claims without a bound, a negative slack) by less than the round-off bound
        ``tol = rtol*scale + atol`` of its computation. (A negative slack where the bound itself is
        round-off, e.g. ``pit = pi``, has no tightness and does not count.) Not set for identities,
        whose slack ``-|lhs - rhs|`` is round-off by design."""
        if self.status != "holds" or self.kind == "identity":
            return False
        if np.isfinite(self.tightness):
            return bool(self.tightness > 1)
        return bool(np.isfinite(self.min_slack) and self.min_slack < 0)

    def as_json(self) -> dict:
        def num(x):
            return None if x is None or not np.isfinite(x) else float(x)

        return {
            "id": self.id,
            "source": self.source,
            "statement": self.statement,
            "kind": self.kind,
            "instances": int(self.instances),
            "violations": int(self.violations),
            "min_slack": num(self.min_slack),
            "tightness": num(self.tightness),
            "status": self.status,
            "within_roundoff": self.within_roundoff,
            "seconds": round(float(self.seconds), 3),
            "counterexample": self.counterexample,
            "expected": self.expected,
            "random_instances": int(self.random_instances),
            "adversarial_instances": int(self.adversarial_instances),
            "regression_instances": int(self.regression_instances),
            "invalid_instances": int(self.invalid_instances),
            "tightness_random": num(self.tightness_random),
            "tightness_by_discount": {k: num(v) for k, v in self.tightness_by_discount.items()},
            "tightest_instance": None if self.tightest is None else to_jsonable(self.tightest),
            "error": self.error,
            "verdict": self.verdict,
            "certified": self.certified,
            "unconfirmed_violations": int(self.unconfirmed_violations),
        }


# ----------------------------------------------------------------------------- helpers


def claim_rng(claim_id: str, seed: int) -> np.random.Generator:
    """The generator a claim's instances are drawn from: depends on the seed and the id only,
    so adding a claim never changes another claim's instances."""
    return np.random.default_rng([int(seed), zlib.crc32(claim_id.encode())])


def _batch_size(batch: Mapping[str, np.ndarray]) -> int:
    sizes = {np.asarray(v).shape[0] for v in batch.values()}
    if len(sizes) != 1:
        raise ValueError(f"batch arrays have different leading sizes {sorted(sizes)}")
    return sizes.pop()


def take(batch: Mapping[str, np.ndarray], idx) -> dict:
    """Rows ``idx`` of a batch (``idx`` an int gives a single instance without batch axis)."""
    return {k: np.asarray(v)[idx] for k, v in batch.items()}


def _run_check(claim: Claim, batch: Mapping[str, np.ndarray]) -> Outcome:
    out = claim.check(batch)
    if not isinstance(out, Outcome):
        raise TypeError(f"{claim.id}: check must return an Outcome, got {type(out).__name__}")
    n = _batch_size(batch)
    if out.slack.shape != (n,):
        raise ValueError(f"{claim.id}: slack has shape {out.slack.shape}, expected ({n},)")
    return out


def to_jsonable(instance: Mapping[str, np.ndarray]) -> dict:
    """An instance as lists of numbers; ``-0.0`` written as ``0.0`` (``x + 0`` is ``+0`` for ``x = -0``)."""
    return {k: (np.asarray(v) + np.asarray(v).dtype.type(0)).tolist() for k, v in instance.items()}


def from_jsonable(instance: Mapping) -> dict:
    return {k: np.asarray(v, dtype=float) for k, v in instance.items()}


# -------------------------------------------------------------- adversarial perturbation


def _logit(x, eps=1e-12):
    x = np.clip(x, eps, 1 - eps)
    return np.log(x) - np.log1p(-x)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def perturb(claim: Claim, batch: Mapping[str, np.ndarray], step: np.ndarray, rng: np.random.Generator) -> dict:
    """Random perturbation of every perturbable array (``step`` has shape ``(n,)``)."""
    out = {}
    for k, v in batch.items():
        v = np.asarray(v, float)
        f = claim.schema.get(k)
        if f is None or f.kind == "fixed":
            out[k] = v
            continue
        s = step.reshape((-1,) + (1,) * (v.ndim - 1))
        z = rng.standard_normal(v.shape)
        if f.kind == "dist":
            logits = np.log(v + 1e-12) + s * 2.0 * z
            e = np.exp(logits - logits.max(axis=-1, keepdims=True))
            out[k] = e / e.sum(axis=-1, keepdims=True)
        elif f.kind == "real":
            size = np.abs(v).reshape(v.shape[0], -1).mean(axis=1) if v.ndim > 1 else np.abs(v)
            size = np.maximum(size, 1e-3).reshape((-1,) + (1,) * (v.ndim - 1))
            out[k] = v + s * size * z
        elif f.kind == "unit":
            out[k] = _sigmoid(_logit(v) + s * 2.0 * z)
        elif f.kind == "gamma":
            out[k] = _GAMMA_MAX * _sigmoid(_logit(v / _GAMMA_MAX) + s * 2.0 * z)
        elif f.kind == "positive":
            out[k] = v * np.exp(s * z)
    return out


def _score(out: Outcome) -> np.ndarray:
    """What the search maximizes: tightness where defined, else minus the relative slack."""
    t = out.tightness
    if out.bound is None:
        t = -out.relative_slack
    t = np.where(out.valid & np.isfinite(t), t, -np.inf)
    # a violation always scores above any non-violation
    return np.where(out.violated, np.maximum(t, 1.0) + 1.0, t)


class _Search:
    """A batched (1 + lambda) evolution strategy from ``k`` seed instances of one shape: each
    generation draws ``children`` perturbations of every member (:func:`perturb`, step ``step``
    per member) and keeps the best child where it improves :func:`_score` (a child whose discount
    left the member's range, :data:`DISCOUNT_RANGES`, does not count: each range is searched on its
    own, and a bound attained as ``gamma -> 0`` would pull every member there); steps grow by 1.5 on
    success and shrink by 0.6 on failure (a success-rule step adaptation). Resumable: :meth:`run`
    continues from where the last call stopped, so a budget can be handed out in rounds."""

    def __init__(self, claim: Claim, seeds: Mapping[str, np.ndarray], rng: np.random.Generator, children: int = 8):
        self.claim, self.rng, self.children = claim, rng, children
        self.k = _batch_size(seeds)
        self.pop = {key: np.asarray(v, float) for key, v in seeds.items()}
        self.out = _run_check(claim, self.pop)
        self.best = _score(self.out)
        self.step = np.full(self.k, 0.3)
        self.evaluated = 0

    @property
    def score(self) -> float:
        return float(np.max(self.best)) if self.best.size else -np.inf

    def focus(self) -> None:
        """Replace the worse half of the members by copies of the best one with a fresh step:
        later rounds refine the best basin from several independent paths."""
        order = np.argsort(-self.best)
        worse = order[(self.k + 1) // 2:]
        if not len(worse) or not np.isfinite(self.best[order[0]]):
            return
        for key in self.pop:
            self.pop[key][worse] = self.pop[key][order[0]]
        self.best[worse] = self.best[order[0]]
        self.step[worse] = 0.3

    def run(self, budget: int, deadline: float) -> None:
        claim, k, children = self.claim, self.k, self.children
        spent = 0
        while spent + k * children <= budget and time.perf_counter() < deadline:
            rep = {key: np.repeat(v, children, axis=0) for key, v in self.pop.items()}
            kids = perturb(claim, rep, np.repeat(self.step, children), self.rng)
            spent += k * children
            self.evaluated += k * children
            try:
                kout = _run_check(claim, kids)
            except Exception:  # a perturbation outside the claim's domain: shrink the steps
                self.step *= 0.5
                continue
            ks = _score(kout)
            if (kr := discount_range(claim, kids)) is not None:  # a member stays in its discount range
                ks = np.where(kr == np.repeat(discount_range(claim, self.pop), children), ks, -np.inf)
            ks = ks.reshape(k, children)
            j = ks.argmax(axis=1)
            improved = ks[np.arange(k), j] > self.best
            idx = np.arange(k) * children + j
            for key in self.pop:
                self.pop[key] = np.where(improved.reshape((-1,) + (1,) * (self.pop[key].ndim - 1)), kids[key][idx],
                                         self.pop[key])
            self.best = np.where(improved, ks[np.arange(k), j], self.best)
            self.step = np.clip(np.where(improved, self.step * 1.5, self.step * 0.6), 1e-4, 3.0)
            # a converged member (step at its floor) hops: half of them from the best member, half
            # from where they are, with a large step (elitist, so a hop never loses ground)
            stalled = self.step <= 1e-4
            if stalled.any():
                b = int(np.argmax(self.best))
                to_best = stalled & (self.rng.random(k) < 0.5)
                for key in self.pop:
                    self.pop[key][to_best] = self.pop[key][b]
                self.best[to_best] = self.best[b]
                self.step[stalled] = 1.0
        self.out = _run_check(claim, self.pop)


def adversarial_search(
    claim: Claim,
    seeds: Mapping[str, np.ndarray],
    rng: np.random.Generator,
    *,
    budget: int,
    children: int = 8,
    time_limit: float = 30.0,
) -> tuple[dict, Outcome, int]:
    """Maximize ``gap / bound`` from seed instances of one shape; returns the final population,
    its outcome and the number of instances evaluated."""
    s = _Search(claim, seeds, rng, children)
    s.run(budget, time.perf_counter() + time_limit)
    return s.pop, s.out, s.evaluated


#: The discount ranges the search keeps apart (:func:`size_class`) and the tightness is reported by
#: (``ClaimResult.tightness_by_discount``): the papers' bounds behave differently as ``gamma -> 0``
#: and ``gamma -> 1`` (TRPO's Theorem 1 is attained as ``gamma -> 0`` only).
DISCOUNT_RANGES = ("[0, 0.5)", "[0.5, 0.9)", "[0.9, 1)")


def discount_range(claim: Claim, batch: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """The index into :data:`DISCOUNT_RANGES` of each instance of a batch (its largest discount
    where the schema has several), or None when the claim has no discount."""
    keys = [k for k, f in claim.schema.items() if f.kind == "gamma" and k in batch]
    if not keys:
        return None
    return _range_index(np.max([np.asarray(batch[k], float).reshape(len(batch[k]), -1).max(axis=1) for k in keys],
                               axis=0))


def _range_index(gamma):
    """The index into :data:`DISCOUNT_RANGES` of a discount (or an array of them)."""
    return (np.asarray(gamma) >= 0.5).astype(int) + (np.asarray(gamma) >= 0.9)


def size_class(claim: Claim, inst: Mapping[str, np.ndarray]) -> tuple:
    """The size class of an instance: the shapes of its arrays (states, actions, dimensions,
    horizon, ...) and, where the schema has a discount, its range (:data:`DISCOUNT_RANGES`)."""
    key = tuple((k, np.shape(v)) for k, v in sorted(inst.items()))
    for k, f in claim.schema.items():
        if f.kind == "gamma" and k in inst:
            key += ((k, int(_range_index(np.max(inst[k])))),)
    return key


#: Candidates per size class the default search budget guarantees (a d = 3 TRES class needs
#: about 10^4 evaluations from random starts to reach its supremum).
CLASS_BUDGET = 3000


def search_budget_for(claim: Claim, n: int, override: int | None = None, classes: int = 1) -> int:
    """Candidates the adversarial search may evaluate: ``override``, else the claim's
    ``search_budget`` (expensive claims) scaled by ``max(1, n / 1000)``, else
    ``max(32 n, CLASS_BUDGET * classes)``: it grows with ``--instances`` so that more instances
    also mean a deeper search, and every size class gets a real search."""
    if override:
        return int(override)
    if claim.search_budget:
        return int(claim.search_budget * max(1.0, n / 1000))
    return max(32 * n, CLASS_BUDGET * classes)


#: Wall-clock cap of one claim's adversarial search (seconds): a safety net only. The budget (a
#: count of candidates) is what normally ends a search, so the same seed gives the same result;
#: a search cut by this cap (a very slow machine) is the one exception.
SEARCH_TIME_LIMIT = 60.0


#: An index symbol is grown by the generic size moves only up to this size.
MAX_AXIS_SIZE = 8
#: Members of a class whose size moves are tried at each migration, and new classes a migration may open.
MIGRANTS_PER_CLASS, NEW_CLASSES_PER_MIGRATION = 4, 4


def _sizes(claim, inst) -> dict[str, int]:
    """``{size symbol: size}`` of ``inst``, read from the schema's axes (e.g. ``{"S": 3, "A": 2}``)."""
    symbols: dict[str, int] = {}
    for k, f in claim.schema.items():
        if k in inst:
            for ax, sym in enumerate(f.axes):
                if sym is not None and ax < np.ndim(inst[k]):
                    symbols[sym] = np.shape(inst[k])[ax]
    return symbols


def _delete_index(claim, inst: dict, sym: str, i: int) -> dict:
    """``inst`` without index ``i`` of the size symbol ``sym`` (a state, an action) on every axis
    of the schema that carries it; distributions are renormalized."""
    cand = {}
    for k, v in inst.items():
        f = claim.schema.get(k)
        v = np.asarray(v, float)
        if f is not None:
            for ax, s2 in enumerate(f.axes):
                if s2 == sym and ax < v.ndim:
                    v = np.delete(v, i, axis=ax)
            if f.kind == "dist" and v.size:
                v = _renormalize(v)
        cand[k] = v
    return cand


def _clone_index(claim: Claim, inst: Mapping[str, np.ndarray], sym: str, i: int) -> dict:
    """Index ``i`` of the axis symbol ``sym`` duplicated at the end of every such axis; on the
    last (probability) axis of a ``dist`` field the mass of ``i`` is split in half between ``i``
    and its copy, so the instance keeps its values (a cloned state is lumpable with its original)."""
    out = {}
    for k, v in inst.items():
        v = np.asarray(v, float)
        f = claim.schema.get(k)
        if f is not None:
            for ax, s2 in enumerate(f.axes):
                if s2 != sym or ax >= v.ndim:
                    continue
                part = np.take(v, [i], axis=ax)
                if f.kind == "dist" and ax == v.ndim - 1:
                    part = part / 2
                    v = v.copy()
                    idx = [slice(None)] * v.ndim
                    idx[ax] = i
                    v[tuple(idx)] /= 2
                v = np.concatenate([v, part], axis=ax)
        out[k] = v
    return out


def size_moves(claim: Claim, inst: Mapping[str, np.ndarray], rng: np.random.Generator) -> list:
    """Instances of other sizes near ``inst`` (arrays without the batch axis): per index symbol of
    the schema, one random index cloned (:func:`_clone_index`, sizes up to :data:`MAX_AXIS_SIZE`)
    and one deleted (as the shrinker does), plus the claim's own ``resize`` moves."""
    out = []
    symbols = _sizes(claim, inst)
    for sym, size in sorted(symbols.items()):
        if size < MAX_AXIS_SIZE:
            out.append(_clone_index(claim, inst, sym, int(rng.integers(size))))
        if size > 1:
            out.append(_delete_index(claim, inst, sym, int(rng.integers(size))))
    if claim.resize is not None:
        out.extend(claim.resize({k: np.asarray(v, float) for k, v in inst.items()}, rng))
    return out


def _migrate(claim: Claim, searches: list, rng: np.random.Generator,
             new_classes: int = NEW_CLASSES_PER_MIGRATION) -> tuple[list, int]:
    """Size-changing moves between classes: the best :data:`MIGRANTS_PER_CLASS` members of every
    search are moved by :func:`size_moves`; a moved instance of a class that has a search replaces
    that search's worst member where it scores higher, and up to ``new_classes``
    classes without one (those of the best-scoring migrants) get a new search seeded by their
    migrants. Returns the new searches and the number of instances evaluated."""
    by_class = {s.cls: s for s in searches}
    moved: dict[tuple, list] = {}
    for s in searches:
        for j in np.argsort(-s.best, kind="stable")[:MIGRANTS_PER_CLASS]:
            if not np.isfinite(s.best[j]):
                continue
            inst = {k: v[j] for k, v in s.pop.items()}
            for m in size_moves(claim, inst, rng):
                cls = size_class(claim, m)
                if cls != s.cls:
                    moved.setdefault(cls, []).append(m)
    spent, fresh = 0, []
    for cls in sorted(moved, key=repr):
        insts = moved[cls]
        batch = {k: np.stack([np.asarray(i[k], float) for i in insts]) for k in insts[0]}
        try:
            out = _run_check(claim, batch)
        except Exception:  # a move outside the claim's domain
            continue
        spent += len(insts)
        score = _score(out)
        if cls in by_class:
            tgt = by_class[cls]
            for j in np.argsort(-score, kind="stable"):
                w = int(np.argmin(tgt.best))
                if not score[j] > tgt.best[w]:
                    break
                for k in tgt.pop:
                    tgt.pop[k][w] = batch[k][j]
                tgt.best[w], tgt.step[w] = score[j], 0.3
        elif np.isfinite(score).any():
            fresh.append((float(np.max(score)), cls, batch))
    fresh.sort(key=lambda t: -t[0])
    new = []
    for _, cls, batch in fresh[:new_classes]:
        s = _Search(claim, batch, rng, searches[0].children if searches else 8)
        s.cls, s.evaluated = cls, _batch_size(batch)
        spent += s.evaluated
        new.append(s)
    return new, spent


def _discount_of(claim: Claim, search) -> int | None:
    """The discount range (:data:`DISCOUNT_RANGES` index) of a search's size class, or None."""
    r = discount_range(claim, search.pop)
    return None if r is None else int(r.max())


def search_classes(claim: Claim, seeds_by_class: Mapping[tuple, list], rng: np.random.Generator, budget: int,
                   *, time_limit: float = SEARCH_TIME_LIMIT) -> list:
    """Search every size class from its own tightest instances, so that a claim that is only
    false for, e.g., ``d >= 3`` is searched there even when ``d = 2`` instances are the tightest
    overall. Half of the budget is spread evenly over all classes (no class is judged by its
    first steps: a class whose supremum is larger may start lower); the other half goes by
    successive halving: each round spends an equal share on the active classes, then the better
    half (by best score) continue, with the best class of every discount range, refocused on their
    best instance. After a quarter of
    the even share and before every round, :func:`_migrate` moves the best instances to other
    sizes (new classes join the search), so a search started in one size class reaches others.
    Returns the ``_Search`` objects (their populations are the search's result)."""
    classes = sorted((cls for cls in seeds_by_class if seeds_by_class[cls]), key=repr)
    # a small budget (expensive claims) cannot feed every class: the classes of the tightest
    # seeds first, each generation at least two children per member
    per_class = 2 * 8 * max(len(seeds_by_class[c]) for c in classes) if classes else 1
    if budget < per_class * len(classes):
        classes.sort(key=lambda c: -seeds_by_class[c][0][0])
        classes = classes[: max(1, budget // per_class)]
    searches = []
    for cls in classes:
        insts = [inst for _, inst in seeds_by_class[cls]]
        batch = {k: np.stack([i[k] for i in insts]) for k in insts[0]}
        children = int(np.clip(budget // (2 * len(insts) * len(classes)), 1, 8))
        searches.append(_Search(claim, batch, rng, children))
        searches[-1].cls = cls
    if not searches:
        return []
    t_end = time.perf_counter() + time_limit
    even = budget // 2
    for s in searches:
        s.run(even // 4 // len(searches), t_end)
    new, spent = _migrate(claim, searches, rng)
    searches += new
    for s in searches:
        s.run(max(0, even - even // 4 - spent) // len(searches), t_end)
    rounds = int(np.ceil(np.log2(len(searches)))) + 1
    active = list(searches)
    for r in range(rounds):
        new, spent = _migrate(claim, active, rng, new_classes=1)
        searches += new
        active += new
        share = max(0, (budget - budget // 2) // rounds - spent) // len(active)
        before = {id(s): s.score for s in active}
        for s in active:
            s.run(share, t_end)
        # classes still improving first (a class that has converged, e.g. to an attained bound,
        # gains nothing from more budget), then by score
        active.sort(key=lambda s: (s.score - before[id(s)] <= 1e-3 * max(1.0, abs(s.score)), -s.score))
        half = active[: max(1, (len(active) + 1) // 2)]
        # and the best class of every discount range: each range's tightness is reported
        # (ClaimResult.tightness_by_discount), and a bound attained as gamma -> 0 would otherwise
        # take the budget from the ranges used in practice
        ranges = {_discount_of(claim, s) for s in half}
        for s in sorted(active[len(half):], key=lambda s: -s.score):
            if (r := _discount_of(claim, s)) not in ranges:
                half.append(s)
                ranges.add(r)
        active = half
        for s in active:
            s.focus()
    return searches


# ----------------------------------------------------------------------------- shrinking


def _is_violated(claim: Claim, inst: Mapping[str, np.ndarray]) -> bool:
    try:
        out = claim.check_one(inst)
    except Exception:
        return False
    return bool(out.violated[0])


def _renormalize(v):
    s = v.sum(axis=-1, keepdims=True)
    n = v.shape[-1]
    return np.where(s > 0, v / np.where(s > 0, s, 1.0), 1.0 / n)


def _shrink_candidates(claim: Claim, inst: Mapping[str, np.ndarray]):
    """Simpler instances: one index of an axis symbol deleted, then simple values (gamma 0, a real
    field all zero), then a real field's magnitude (its signs, or half of it rounded to integers,
    while it exceeds 1), then rounded fields."""
    symbols = _sizes(claim, inst)
    for sym, size in symbols.items():
        if size <= 1:
            continue
        for i in range(size):
            yield _delete_index(claim, inst, sym, i)
    for k, f in claim.schema.items():  # simplest values first: gamma 0, a real field all zero
        if k not in inst:
            continue
        v = np.asarray(inst[k], float)
        simple = {"gamma": (0.0, 0.5, 0.9), "real": (0.0,), "unit": (0.0, 1.0, 0.5)}.get(f.kind, ())
        for k_, value in enumerate(simple):  # never trade a simple value for a later one (no cycles)
            if any(np.all(v == s) for s in simple[:k_ + 1]):
                break
            if np.any(v != value):
                cand = dict(inst)
                cand[k] = np.full_like(v, value)
                yield cand
    for k, f in claim.schema.items():  # smaller magnitudes: each candidate lowers max |v| (no cycles)
        if k not in inst or f.kind != "real":
            continue
        v = np.asarray(inst[k], float)
        if np.max(np.abs(v), initial=0.0) > 1.0:
            for smaller in (np.sign(v), np.round(v / 2)):
                cand = dict(inst)
                cand[k] = smaller
                yield cand
    for decimals in (0, 1, 2, 3, 4):
        for k, f in claim.schema.items():
            if k not in inst or f.kind == "fixed":
                continue
            v = np.asarray(inst[k], float)
            r = np.round(v, decimals)
            if f.kind == "dist":
                r = _renormalize(r)
            elif f.kind == "gamma":
                r = np.clip(r, 0.0, _GAMMA_MAX)
            elif f.kind == "unit":
                r = np.clip(r, 0.0, 1.0)
            elif f.kind == "positive":
                r = np.where(r > 0, r, v)
            if np.array_equal(r, v):
                continue
            cand = dict(inst)
            cand[k] = r
            yield cand


def shrink(claim: Claim, inst: Mapping[str, np.ndarray], *, max_checks: int = 2000, time_limit: float = 20.0) -> dict:
    """Greedy shrinking of a violating instance: repeatedly take the first simpler
    candidate (fewer states/actions, then rounder numbers) that is still violated."""
    current = {k: np.asarray(v, float) for k, v in inst.items()}
    if not _is_violated(claim, current):
        return current
    checks = 0
    t0 = time.perf_counter()
    progress = True
    while progress and checks < max_checks and time.perf_counter() - t0 < time_limit:
        progress = False
        for cand in _shrink_candidates(claim, current):
            checks += 1
            if _is_violated(claim, cand):
                current = cand
                progress = True
                break
            if checks >= max_checks:
                break
    return current


# ----------------------------------------------------------------------------- certificates


def certify(claim: Claim, inst: Mapping[str, np.ndarray]):
    """``(certificate, None)`` from the claim's exact evaluator, or ``(None, why)``."""
    if claim.exact is None:
        return None, "no exact evaluator"
    try:
        return claim.exact({k: np.asarray(v, float) for k, v in inst.items()}), None
    except Exception as exc:  # e.g. an infinite KL, a singular exact system
        return None, f"exact evaluation failed: {type(exc).__name__}: {exc}"


def certificate_json(cert) -> dict:
    """A certificate as JSON: exact rationals as strings ``"p/q"``, intervals as ``[lo, hi]``."""
    from proofs_check._rational import as_text

    return {"violated": bool(cert.violated), "slack_upper": as_text(cert.upper),
            "slack_lower": None if cert.lower is None else as_text(cert.lower),
            "slack_upper_float": float(cert.upper), "sides": as_text(dict(cert.sides)),
            "instance": as_text(dict(cert.instance))}


# ----------------------------------------------------------------------------- regressions


def load_regressions(claim_id: str, directory: Path | None = None) -> list[dict]:
    """Stored instances for ``claim_id`` (files ``<id>*.json`` in ``directory``)."""
    directory = REGRESSIONS_DIR if directory is None else Path(directory)
    out = []
    if not directory.is_dir():
        return out
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if data.get("claim") == claim_id:
            out.append(from_jsonable(data["instance"]))
    return out


def save_regression(claim: Claim, instance: Mapping, info: Mapping, directory: Path | None = None) -> Path:
    directory = REGRESSIONS_DIR if directory is None else Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{claim.id}.json"
    payload = {"claim": claim.id, "source": claim.source, "statement": claim.statement,
               "instance": to_jsonable(instance), **dict(info)}
    _write_then_rename(path, json.dumps(payload, indent=1) + "\n")
    return path


def _write_then_rename(path: Path, text: str) -> None:
    """Write ``text`` to a unique temporary file beside ``path``, then ``os.replace`` it onto
    ``path``: a reader (the next run's regression loader) sees the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")  # one per writer
    try:
        tmp.write_text(text)  # a plain open: the umask's permissions (a NamedTemporaryFile's are 0600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _group_by_shape(instances: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for inst in instances:
        key = tuple((k, np.shape(v)) for k, v in sorted(inst.items()))
        groups.setdefault(key, []).append(inst)
    return [{k: np.stack([g[k] for g in grp]) for k in grp[0]} for grp in groups.values()]


# ----------------------------------------------------------------------------- run


@dataclass
class _Acc:
    n: int = 0
    invalid: int = 0
    violations: int = 0
    min_rel: float = float("inf")
    tight: float = float("-inf")
    worst_violation: tuple | None = None  # ((size, relative slack), instance, source)
    tightest: dict | None = None  # the instance of largest gap / bound
    tight_by_discount: dict = field(default_factory=dict)  # DISCOUNT_RANGES entry -> largest gap / bound there
    seeds: dict = field(default_factory=dict)  # size class -> [(score, instance)] of its tightest instances
    claim: Claim | None = None

    def add(self, batch, out: Outcome, *, keep: int, source: str):
        n = out.slack.shape[0]
        self.n += n
        self.invalid += int((~out.valid).sum())
        viol = out.violated
        self.violations += int(viol.sum())
        rel = np.where(out.valid, out.relative_slack, np.inf)
        rel = np.where(np.isnan(rel) & out.valid, -np.inf, rel)
        if n:
            self.min_rel = min(self.min_rel, float(np.min(rel)))
            t = out.tightness
            if np.any(np.isfinite(t)):
                j = int(np.nanargmax(t))
                if t[j] > self.tight:
                    self.tight = float(t[j])
                    self.tightest = take(batch, j)
                ranges = discount_range(self.claim, batch)
                for r in () if ranges is None else np.unique(ranges[np.isfinite(t)]):
                    key = DISCOUNT_RANGES[r]
                    self.tight_by_discount[key] = max(self.tight_by_discount.get(key, -np.inf),
                                                      float(np.nanmax(np.where(ranges == r, t, np.nan))))
        if viol.any():
            # the simplest violated instance (fewest nonzero entries), then the most violated one
            size = sum(np.count_nonzero(np.asarray(v).reshape(n, -1), axis=1) for v in batch.values())
            key = np.where(viol, size * 1e6 + np.clip(rel, -1e5, 1e5), np.inf)
            i = int(np.argmin(key))
            cand = (float(size[i]), float(rel[i]))
            if self.worst_violation is None or cand < self.worst_violation[0]:
                self.worst_violation = (cand, take(batch, i), source)
        if keep:  # the `keep` tightest instances of every size class
            score = _score(out)
            finite = np.flatnonzero(np.isfinite(score))
            groups: dict = {}
            for i in finite:
                inst = take(batch, int(i))
                groups.setdefault(size_class(self.claim, inst), []).append((float(score[i]), inst))
            for cls, items in groups.items():
                lst = self.seeds.setdefault(cls, [])
                lst.extend(sorted(items, key=lambda x: -x[0])[:keep])
                lst.sort(key=lambda x: -x[0])
                del lst[keep:]


def run_claim(
    claim: Claim,
    n: int = 1000,
    seed: int = 0,
    *,
    search: bool = True,
    search_budget: int | None = None,
    regressions_dir: Path | None | bool = None,
    save: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ClaimResult:
    """Check one claim; see the module docstring.

    Args:
        n: random instances (capped by ``claim.max_instances``).
        seed: base seed (the claim's generator is :func:`claim_rng`).
        search: run the adversarial search where the claim has one.
        search_budget: instances the search may evaluate (default ``claim.search_budget``
            or ``max(200, n // 2)``).
        regressions_dir: where stored instances are read (and written when ``save``);
            ``None`` is :data:`REGRESSIONS_DIR`, ``False`` disables regressions.
        save: store the shrunk counterexample as a regression instance.
        progress: called with the number of instances just checked.
    """
    t0 = time.perf_counter()
    res = ClaimResult(id=claim.id, source=claim.source, kind=claim.kind, expected=claim.expected, notes=claim.notes,
                      statement=claim.statement)
    acc = _Acc(claim=claim)
    try:
        _check_instances(claim, res, acc, claim_rng(claim.id, seed), n, search=search, search_budget=search_budget,
                         regressions_dir=regressions_dir, progress=progress)
    except Exception as exc:  # reported, never hidden
        res.error = f"{type(exc).__name__}: {exc}"
    res.instances = res.random_instances + res.regression_instances + res.adversarial_instances
    res.invalid_instances = acc.invalid
    res.violations = acc.violations
    res.min_slack = acc.min_rel if np.isfinite(acc.min_rel) or acc.min_rel == -np.inf else float("nan")
    res.tightness = acc.tight if np.isfinite(acc.tight) else float("nan")
    res.tightest = acc.tightest
    res.tightness_by_discount = {k: acc.tight_by_discount[k] for k in DISCOUNT_RANGES if k in acc.tight_by_discount}
    if acc.worst_violation is not None and res.error is None:
        _report_counterexample(claim, res, acc.worst_violation, seed, save=save, regressions_dir=regressions_dir)
    res.seconds = time.perf_counter() - t0
    return res


def _check_instances(claim: Claim, res: ClaimResult, acc: _Acc, rng, n: int, *, search, search_budget,
                     regressions_dir, progress) -> None:
    """The three sources of instances of :func:`run_claim`, in order, into ``acc`` and the counts of ``res``."""
    n_random = n if claim.max_instances is None else min(n, claim.max_instances)
    keep = 4 if (search and claim.search) else 0
    # 1. regression instances
    if regressions_dir is not False:
        regs = load_regressions(claim.id, None if regressions_dir is None else regressions_dir)
        for batch in _group_by_shape(regs):
            out = _run_check(claim, batch)
            acc.add(batch, out, keep=0, source="regression")
            res.regression_instances += _batch_size(batch)
    # 2. random instances
    for batch in claim.draw(rng, n_random):
        out = _run_check(claim, batch)
        acc.add(batch, out, keep=keep, source="random")
        res.random_instances += out.slack.shape[0]
        if progress:
            progress(out.slack.shape[0])
    res.tightness_random = acc.tight
    # 3. adversarial search from the tightest random instances of every size class
    if keep and acc.seeds:
        budget = search_budget_for(claim, n, search_budget, classes=len(acc.seeds))
        for s in search_classes(claim, acc.seeds, rng, budget):
            acc.add(s.pop, s.out, keep=0, source="adversarial")
            res.adversarial_instances += s.evaluated


def _report_counterexample(claim: Claim, res: ClaimResult, worst_violation, seed: int, *, save, regressions_dir):
    """Shrink the worst violation, certify it on exact rationals where the claim can, and record it
    in ``res.counterexample`` (and as a regression instance when ``save``)."""
    rel, inst, source = worst_violation
    small = shrink(claim, inst)
    cert = None
    if claim.exact is not None:
        cert, small, refuted, why = _certify(claim, small, inst)
        res.certified = cert is not None
        if refuted:
            res.unconfirmed_violations = res.violations
            res.violations = 0
            res.exact_note = "the exact slack of the float counterexample is >= 0 (round-off)"
            return
        if cert is None:
            res.exact_note = why
    out = claim.check_one(small)
    info = {
        "found_by": source,
        "seed": int(seed),
        "slack": float(out.slack[0]),
        "scale": float(out.scale[0]),
        "tol": float(out.tol[0]),
        "bound": None if out.bound is None else float(out.bound[0]),
        "corrected": claim.notes,
    }
    if res.certified:
        info["certificate"] = certificate_json(cert)
    res.counterexample = {"instance": to_jsonable(small), **info}
    if save and regressions_dir is not False:
        path = save_regression(claim, small, info, None if regressions_dir is None else regressions_dir)
        res.counterexample["stored_as"] = str(path)


def _certify(claim: Claim, small, inst):
    """``(certificate, instance, refuted, why)``: a violation is proved on exact rationals (the shrunk
    instance, else the instance as found); when the exact slack of both is >= 0 the float violations
    were round-off (``refuted``); when no certificate can be computed (e.g. an instance type the
    evaluator does not cover) or its interval straddles 0, the verdict stays a float one."""
    refuted, why = True, None
    for cand in (small, inst):
        c, why = certify(claim, cand)
        if c is not None and c.violated:
            return c, cand, False, why
        refuted = refuted and c is not None and c.holds
    return None, small, refuted, why
