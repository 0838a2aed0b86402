"""The loop: ask/tell equals drive, bookkeeping of STRO's rejection/merge/mandatory acceptance,
numerical failures reported with the iterate kept, record invariants, immutability."""

from dataclasses import replace

import numpy as np
import pytest
from _helpers import nan_equal

from trustopt import ValidationError, tabular
from trustopt.algorithms import get
from trustopt.api import run
from trustopt.components import ImportanceSampled, MeanKL
from trustopt.core.loop import NEED_MODEL, NEED_TRIAL, READY, ask, drive, start, tell
from trustopt.core.protocols import StepSolver
from trustopt.core.types import Decision, Proposal
from trustopt.testing import random_mdps

MDP = random_mdps(np.random.default_rng(3), 1, 4, 3, gamma=0.9)[0]


def test_ask_tell_by_hand_equals_drive():
    method = get("stro")(MDP, n_episodes=10)
    _, history, _ = drive(method, max_iter=12, rng=np.random.default_rng(5))
    rng = np.random.default_rng(5)
    state = start(method)
    records = []
    phases = set()
    while len(records) < 12:
        phases.add(state.phase)
        theta = ask(state)
        batch = None if theta is None else method.sampler.sample(method.policy, theta, rng, state.baseline)
        state, rec = tell(method, state, batch, rng)
        if rec is not None:
            records.append(rec)
    assert phases == {NEED_MODEL, NEED_TRIAL, READY}
    assert len(records) == len(history) == 12
    assert nan_equal(records, history)  # every field, NaN == NaN (eta_trial, rho, ... of model-only steps)


def test_nan_equal_compares_every_field_and_the_length():
    hist = list(run("stro", MDP, max_iter=3, seed=1, n_episodes=10).history)
    with_nan = hist[:-1] + [replace(hist[-1], eta_trial=float("nan"))]
    assert nan_equal(hist, list(hist)) and nan_equal(with_nan, list(with_nan))  # NaN == NaN
    assert not nan_equal(hist, hist[:-1])
    assert not nan_equal(hist, hist[:-1] + [replace(hist[-1], action="other")])  # a str field
    assert not nan_equal(hist, hist[:-1] + [replace(hist[-1], n_samples=hist[-1].n_samples + 1)])  # an int field
    assert not nan_equal(hist, hist[:-1] + [replace(hist[-1], eta=float("nan"))])  # number vs NaN


def test_tell_checks_its_batch():
    method = get("trpo")(MDP, exact=True)
    state = start(method)
    good = method.sampler.sample(method.policy, method.theta0, None)
    with pytest.raises(ValidationError, match="batch"):
        tell(method, state, None, np.random.default_rng(0))
    wrong = method.sampler.sample(method.policy, method.theta0 + 1.0, None)
    with pytest.raises(ValidationError, match="other than"):
        tell(method, state, wrong, np.random.default_rng(0))
    state2, rec = tell(method, state, good, np.random.default_rng(0))
    assert rec is not None and state2.k == 1 and state2.phase == NEED_MODEL


def test_stro_sampled_records_follow_the_algorithm():
    res = run("stro", MDP, max_iter=25, seed=1, n_episodes=10)
    hist = res.history
    assert {"accept", "reject_merge"} <= {r.action for r in hist}
    for prev, r in zip(hist, hist[1:]):
        assert r.radius == pytest.approx(r.radius_param * r.grad_norm)  # delta_k = mu_k ||g_k||
        assert r.n_samples_total == prev.n_samples_total + r.n_samples
        if prev.action == "accept":  # B_{k+1} = T (no new sample for the model)
            assert r.eta == prev.eta_trial
        if prev.action == "reject_merge":  # iterate kept, model batch enlarged by a fresh one
            assert r.n_samples > 0
    for r in hist:
        assert r.rho == pytest.approx((r.eta_trial - r.eta) / (r.eta_std + r.predicted_gain))  # eq. 4.14
        assert r.accepted == (r.rho >= 0.0 or r.action == "force_best")


def test_mandatory_acceptance_takes_the_best_rejected_trial():
    # beta0 = 1e9: every ratio fails, so after max_rejections = 3 consecutive rejections the
    # best trial among the rejected ones (by eta_hat of its batch) is taken (eq. 4.13).
    res = run("stro", MDP, max_iter=6, seed=2, n_episodes=10, beta0=1e9, beta1=1e9, max_rejections=3)
    actions = [r.action for r in res.history]
    assert actions == ["reject_merge", "reject_merge", "force_best"] * 2
    # the iterate after a forced acceptance has the best trial's eta as its model eta
    first = res.history[:3]
    assert res.history[3].eta == max(r.eta_trial for r in first)


def test_mandatory_acceptance_removes_only_the_chosen_pair_from_H():
    # STRO Alg. 4.3 line 13: H = H \ {(theta_{k+1}, B_{k+1})}; lines 10-11 add each rejected trial.
    method = get("stro")(MDP, n_episodes=10, beta0=1e9, beta1=1e9, max_rejections=3)
    rng = np.random.default_rng(2)
    state, seen, kept = start(method), [], []  # seen: (theta_tilde, T) of every trial; kept: H after a forced step
    while len(seen) < 6:
        theta = ask(state)
        batch = None if theta is None else method.sampler.sample(method.policy, theta, rng, state.baseline)
        if state.phase == NEED_TRIAL:
            seen.append((np.array(theta), batch))
        state, rec = tell(method, state, batch, rng)
        if rec is not None and rec.action == "force_best":
            cands = kept + seen[-3:]  # H before line 13: what was kept plus this cycle's 3 rejected trials
            best = int(np.argmax([T.eta for _, T in cands]))
            assert np.array_equal(state.theta, cands[best][0]) and state.batch is cands[best][1]
            kept = cands[:best] + cands[best + 1:]
            assert len(state.rejected) == len(kept) == len(cands) - 1
            for (z, T), (z2, T2) in zip(state.rejected, kept):
                assert np.array_equal(z, z2) and T is T2
        elif rec is not None:
            assert rec.action == "reject_merge" and len(state.rejected) == len(kept) + len(seen) % 3
    assert len(state.rejected) == 4  # 2 kept from each of the two mandatory acceptances


class _NegativeMetric(MeanKL):
    """A distance whose metric is negative definite: CG must break down."""

    def metric_vector_product(self, policy, theta_k, batch):
        return lambda v: -np.asarray(v)


class _NanSurrogate(ImportanceSampled):
    def value(self, policy, theta, batch):
        return float("nan") if not np.array_equal(theta, batch.theta) else super().value(policy, theta, batch)


class _FlatSurrogate(ImportanceSampled):
    """Gradient of the importance-sampled surrogate but a constant value: predicted gain 0."""

    def value(self, policy, theta, batch):
        return 1.0

    def value_and_grad(self, policy, theta, batch):
        return 1.0, super().value_and_grad(policy, theta, batch)[1]


@pytest.mark.parametrize(
    "algo,change,status",
    [
        ("trpo", {"distance": _NegativeMetric()}, "cg_breakdown"),
        ("npg", {"surrogate": _NanSurrogate()}, "nonfinite"),
        ("vpg", {"surrogate": _FlatSurrogate()}, "nonpositive_predicted_gain"),
        ("stro", {"distance": _NegativeMetric()}, "cg_breakdown"),
    ],
)
def test_numerical_failure_is_reported_and_the_iterate_kept(algo, change, status):
    method = replace(get(algo)(MDP, exact=True), **change)
    theta0 = np.random.default_rng(0).normal(size=method.theta0.size)
    method = replace(method, theta0=theta0)
    res = run(method, MDP, max_iter=3, seed=0)
    assert [r.status for r in res.history] == [status] * 3
    assert not any(r.accepted for r in res.history)
    np.testing.assert_array_equal(res.theta, theta0)
    failures = "0 numerical failure(s), 3 without a predicted gain" if status == "nonpositive_predicted_gain" else \
        "3 numerical failure(s)"
    assert f"3 rejected ({failures}; last: " in res.message, res.message
    assert res.eta == pytest.approx(tabular.evaluate(MDP, method.policy.probs(theta0)).eta)


def test_nan_eta_from_sampler_is_a_failure():
    method = get("npg")(MDP, exact=True)

    class NanSampler:
        def sample(self, policy, theta, rng, baseline=None):
            return replace(method.sampler.sample(policy, theta, rng), eta=float("nan"))

    res = run(replace(method, sampler=NanSampler()), MDP, max_iter=2, seed=0)
    assert [r.status for r in res.history] == ["nonfinite"] * 2
    np.testing.assert_array_equal(res.theta, method.theta0)


def test_result_and_records_are_immutable():
    res = run("trpo", MDP, max_iter=2, seed=0, exact=True)
    with pytest.raises(ValueError):
        res.theta[0] = 1.0
    with pytest.raises(Exception):
        res.history[0].eta = 0.0
    assert res.column("eta").shape == (2,)
    method = get("trpo")(MDP, exact=True)
    with pytest.raises(ValidationError, match="theta0"):
        replace(method, theta0=np.zeros(3))


def test_loop_threads_the_step_state_and_observe_trial():
    """Components hold no state: the loop hands each propose the Proposal.step_state of the
    previous one, and calls the solver's optional observe_trial with the trial batch before the
    decision. A counting solver checks the sequence: propose k sees the state after k-1 proposals
    and k-1 trial observations (every STRO iteration samples its trial point)."""
    from trustopt.components import GradientStep

    seen = []

    class Counting(StepSolver):
        inner = GradientStep(learning_rate=0.5)

        def propose(self, model, radius, rng, step_state=None):
            seen.append(step_state)
            p = self.inner.propose(model, radius, rng)
            n_prop, n_obs = (0, 0) if step_state is None else step_state
            return replace(p, step_state=(n_prop + 1, n_obs))

        def observe_trial(self, step_state, policy, proposal, trial_batch, surrogate):
            assert np.array_equal(trial_batch.theta, proposal.theta)
            return (step_state[0], step_state[1] + 1)

    base = get("stro")(MDP, n_episodes=10)
    method = replace(base, step=Counting())
    state, hist, _ = drive(method, max_iter=6, rng=np.random.default_rng(0))
    n_ok = [r.status == "ok" for r in hist]
    assert seen[0] is None and len(seen) == 6
    for k in range(1, 6):  # a trial is sampled exactly for the sound proposals
        assert seen[k] == (k, sum(n_ok[:k]))
    assert state.step_state == (6, sum(n_ok))


def test_ratio_radius_enlarges_only_boundary_steps_when_asked():
    """Nocedal & Wright 2006 Alg. 4.1: with enlarge_at_boundary_only, r_k >= beta1 enlarges delta_k
    only for a step that reached the boundary; the shrinking branches are unaffected."""
    from trustopt.components import RatioRadius

    nw = RatioRadius(delta0=0.1, enlarge_at_boundary_only=True)
    stro = RatioRadius(delta0=0.1)
    assert nw.update(0.1, 0.9, at_boundary=True) == stro.update(0.1, 0.9) == pytest.approx(0.2)
    assert nw.update(0.1, 0.9, at_boundary=False) == 0.1
    assert stro.update(0.1, 0.9, at_boundary=False) == pytest.approx(0.2)  # eq. 3.4 as written
    assert nw.update(0.1, 0.3, at_boundary=False) == stro.update(0.1, 0.3) == pytest.approx(0.08)
    assert nw.update(0.1, float("nan"), at_boundary=False) == pytest.approx(0.06)


class _ZeroRadius:
    """A radius rule whose radius is 0 (e.g. STRO eq. 4.16, ``mu ||g||``, at a zero gradient)."""

    def initial(self):
        return 1.0

    def radius(self, param, grad_norm):
        return 0.0

    def update(self, param, rho, *, at_boundary=True):
        return param


def test_the_loop_checks_the_radius_once_for_the_solvers_that_use_it():
    """A radius that is not positive is a reported failure (theta_k kept) for every solver that uses
    it, checked by the loop before propose; a solver that ignores it (PPO's clipping) still steps."""
    from trustopt.components import ClippedAscent, ExactTabularStep, GradientStep, NaturalGradientStep, StroInnerSolver

    base = get("trpo")(MDP, exact=True)
    uses = (NaturalGradientStep(), StroInnerSolver(), ExactTabularStep(), GradientStep(learning_rate=1.0, cap_kl=True))
    for step in uses:
        assert step.uses_radius
        state, hist, _ = drive(replace(base, step=step, radius_rule=_ZeroRadius()), max_iter=2,
                               rng=np.random.default_rng(0))
        assert [r.status for r in hist] == ["subproblem_failed"] * 2
        assert "trust-region radius 0.0 is not positive" in hist[0].message
        assert np.array_equal(state.theta, base.theta0)
    for step in (ClippedAscent(n_minibatches=1), GradientStep(learning_rate=0.5)):
        assert not step.uses_radius
        _, hist, _ = drive(replace(base, step=step, radius_rule=_ZeroRadius()), max_iter=1, rng=np.random.default_rng(0))
        assert hist[0].status == "ok" and hist[0].predicted_gain > 0  # a step was proposed


class _Returns(StepSolver):
    """A step solver that breaks the StepSolver contract in a chosen way."""

    def __init__(self, make):
        self.make = make

    def propose(self, model, radius, rng, step_state=None):
        return self.make(model)


class _Decides:
    needs_trial_batch = False

    def __init__(self, decision):
        self.decision = decision

    def decide(self, proposal, batch, trial_batch, n_rejections):
        return self.decision


class _WrongGradient:
    def value(self, policy, theta, batch):
        return ImportanceSampled().value(policy, theta, batch)

    def value_and_grad(self, policy, theta, batch):
        L, g = ImportanceSampled().value_and_grad(policy, theta, batch)
        return L, g[:-1]


@pytest.mark.parametrize(
    "change, match",
    [
        ({"step": _Returns(lambda m: Proposal(theta=np.append(m.theta_k, 0.0), predicted_gain=1.0))},
         r"step: _Returns.propose returned theta of shape \(13,\).*expected shape \(12,\)"),
        ({"step": _Returns(lambda m: (m.theta_k + 0.01 * m.g0, 1.0))}, "step: _Returns.propose returned tuple"),
        ({"step": _Returns(lambda m: Proposal(theta=m.theta_k + 0.01 * m.g0, predicted_gain=np.ones(1)))},
         r"predicted gain of shape \(1,\)"),
        ({"step": _Returns(lambda m: Proposal(theta=m.theta_k, predicted_gain=1.0, status="diverged"))},
         "status 'diverged'"),
        ({"acceptance": _Decides(True)}, "acceptance: _Decides.decide returned bool"),
        ({"acceptance": _Decides(Decision(action="yes"))}, "returned action 'yes'"),
        ({"acceptance": _Decides(Decision(action="force_best"))}, "needs_trial_batch"),
        ({"surrogate": _WrongGradient()}, r"gradient of shape \(11,\); expected a scalar and shape \(12,\)"),
    ],
)
def test_a_component_that_breaks_its_contract_is_named_in_a_validation_error(change, match):
    """A proposal of another shape than theta_k (which the next sample would reshape into another policy,
    or reject as 'policy: expected ... parameters'), a decision that is not a Decision with a known action,
    or a gradient of another shape is a programming error in the component: the loop names it (a NaN instead is a recorded numerical failure, test above)."""
    method = replace(get("vpg")(MDP, exact=True), **change)
    with pytest.raises(ValidationError, match=match):
        drive(method, max_iter=2, rng=np.random.default_rng(0))


def test_method_names_a_part_that_is_a_class_or_lacks_a_protocol_member():
    """acceptance=RatioTest (the class) failed at the first iteration as 'RatioTest.decide() missing 1
    required positional argument'; a duck-typed step solver without uses_radius or an acceptance rule
    without needs_trial_batch as an AttributeError mid-run. Method names the field and the protocol."""
    from trustopt.components import RatioRadius, RatioTest

    base = get("trpo")(MDP, exact=True)
    with pytest.raises(ValidationError, match=r"acceptance: got the class RatioTest; pass an instance"):
        replace(base, acceptance=RatioTest)
    with pytest.raises(ValidationError, match=r"radius_rule: got the class RatioRadius"):
        replace(base, radius_rule=RatioRadius)

    class DuckStep:
        def propose(self, model, radius, rng, step_state=None):
            return Proposal(theta=model.theta_k, predicted_gain=1.0)

    with pytest.raises(ValidationError, match=r"step: DuckStep lacks uses_radius, observe_trial of the StepSolver "
                                              r"protocol.*subclass trustopt.core.StepSolver"):
        replace(base, step=DuckStep())

    class NoFlag:
        def decide(self, proposal, batch, trial_batch, n_rejections):
            return Decision(action="accept")

    with pytest.raises(ValidationError, match=r"acceptance: NoFlag lacks needs_trial_batch of the Acceptance"):
        replace(base, acceptance=NoFlag())
    replace(base, step=_Returns(lambda m: None), acceptance=_Decides(None), radius_rule=_ZeroRadius())  # complete


def test_a_radius_rule_whose_parameter_is_not_finite_is_named():
    """A rule computing ``param * (1 + rho)`` gets rho = nan under AlwaysAccept: the NaN parameter used to
    become 'trust-region radius nan is not positive' at every later iteration (TRPO), or NaN samples that
    ask/tell then refused as 'X: must be the array returned by the last ask()' (ES). Now the loop names the
    rule and the call; a radius that is merely not positive stays a recorded failure (test above)."""

    class Scaled:
        def initial(self):
            return 0.01

        def radius(self, param, grad_norm):
            return param

        def update(self, param, rho, *, at_boundary=True):
            return param * (1.0 + rho)

    base = get("npg")(MDP, exact=True)
    with pytest.raises(ValidationError, match=r"radius_rule: Scaled.update\(0.01, nan\) returned nan.*shrinking"):
        drive(replace(base, radius_rule=Scaled()), max_iter=2, rng=np.random.default_rng(0))

    class NanStart(Scaled):
        def initial(self):
            return float("nan")

    es = get("es")(lambda X: -np.sum(X**2, axis=1), theta0=np.ones(3), sigma0=0.3)
    with pytest.raises(ValidationError, match=r"radius_rule: NanStart.initial\(\) returned nan; .* finite$"):
        run(replace(es, radius_rule=NanStart()), None, max_iter=2, seed=0)


@pytest.mark.parametrize("algo,scale", [(a, c) for a in ("vpg", "ppo", "trefree") for c in (1e-200, 1e200)]
                         + [("stro", 1e200)])  # stro at 1e-200: its CG's absolute tolerance calls ||g|| ~ 1e-192 0
def test_rewards_of_extreme_scale_are_no_false_stationary_point(algo, scale):
    """Rewards of 1e-200 (the squares in ||g|| underflow) or 1e200 (the advantages' std overflows,
    so every normalized advantage was 0): the exact run stopped after one iteration as
    'converged: gradient of the surrogate at theta_k is 0'. The gradient is not 0: the run goes on,
    each failed step reported, the iterate finite."""
    mdp = tabular.TabularMDP(MDP.P, MDP.r * scale, MDP.rho0, MDP.gamma)
    res = run(algo, mdp, max_iter=3, seed=0, exact=True)
    assert res.status == "max_iter" and len(res.history) == 3
    assert all(r.status != "stationary" for r in res.history)
    assert np.all(np.isfinite(res.theta))
