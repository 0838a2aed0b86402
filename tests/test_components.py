"""Components against independent references: the exact tabular oracle (surrogate, gradients,
divergences, subproblem solvers), dense linear algebra, finite differences, and Monte Carlo
averages with tolerances from their standard errors."""

import numpy as np
import pytest

from trustopt import ValidationError, tabular
from trustopt.components import (
    AlwaysAccept,
    ImprovementWithinRadius,
    ClippedAscent,
    ClippedObjective,
    ClippedRatio,
    ConstantRadius,
    Euclidean,
    ExactTabularSampler,
    ExactTabularStep,
    FlatTabularSoftmax,
    GradientNormRadius,
    GradientStep,
    ImportanceSampled,
    MaxKL,
    MeanKL,
    MeanTV,
    NaturalGradientStep,
    RatioRadius,
    RatioTest,
    StroInnerSolver,
    TabularEpisodeSampler,
    TabularVineSampler,
    stro_ratio,
)
from trustopt.algorithms import get
from trustopt.components.acceptance import FreshRatioTest
from trustopt.components.es_steps import ESGradientStep
from trustopt.components.search import PerturbationSampler
from trustopt.core.types import Batch, Proposal, merge_batches
from trustopt.policies import TabularSoftmax
from trustopt.testing import random_mdps

from _helpers import fd_grad, subproblem

S, A = 5, 3
MDP = random_mdps(np.random.default_rng(7), 1, S, A, gamma=0.9)[0]
POLICY = FlatTabularSoftmax(TabularSoftmax(S, A))


def _theta(seed, scale=1.0):
    return np.random.default_rng(seed).normal(scale=scale, size=S * A)


def _exact_batch(theta):
    return ExactTabularSampler(mdp=MDP).sample(POLICY, theta, None)


# ----------------------------------------------------------------------------- exact batch, surrogates


def test_exact_batch_is_the_oracle():
    th = _theta(0)
    b = _exact_batch(th)
    ev = tabular.evaluate(MDP, POLICY.probs(th))
    assert b.exact and b.eta == ev.eta and b.eta_std == 0.0 and b.n_samples == 0
    assert np.sum(b.weights) == pytest.approx(1.0 / (1.0 - MDP.gamma), rel=1e-12)
    # L(theta_k) = eta exactly (sum_a pi A = 0)
    assert ImportanceSampled().value(POLICY, th, b) == pytest.approx(ev.eta, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_importance_sampled_surrogate_and_gradient_equal_exact_oracle(seed):
    th_k, th = _theta(seed), _theta(seed) + _theta(seed + 100, 0.5)
    b = _exact_batch(th_k)
    L, g = ImportanceSampled().value_and_grad(POLICY, th, b)
    assert L == pytest.approx(tabular.surrogate(MDP, POLICY.probs(th_k), POLICY.probs(th)), rel=1e-10)
    g_ref = tabular.grad_surrogate_softmax(MDP, POLICY.probs(th_k), th.reshape(S, A)).ravel()
    np.testing.assert_allclose(g, g_ref, rtol=1e-9, atol=1e-12)
    # at theta_k it is the exact policy gradient (STRO eq. 2.7)
    _, g0 = ImportanceSampled().value_and_grad(POLICY, th_k, b)
    np.testing.assert_allclose(g0, tabular.grad_eta_softmax(MDP, th_k.reshape(S, A)).ravel(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("surrogate", [ClippedRatio(epsilon=0.1), ClippedObjective(delta=0.02), ImportanceSampled()])
@pytest.mark.parametrize("seed", range(3))
def test_surrogate_gradients_match_finite_differences(surrogate, seed):
    th_k = _theta(seed)
    th = th_k + _theta(seed + 50, 0.3)  # some pairs clipped, some not
    b = _exact_batch(th_k)
    _, g = surrogate.value_and_grad(POLICY, th, b)
    fd = fd_grad(lambda x: surrogate.value(POLICY, x, b), th)
    # central differences: error O(h^2 f''') ~ 1e-10, except at a kink (measure zero; avoided by the seeds)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("seed", range(5))
def test_clipped_surrogates_bounds_and_first_order_agreement(seed):
    th_k = _theta(seed)
    b = _exact_batch(th_k)
    th = th_k + _theta(seed + 7, 0.8)
    L_is = ImportanceSampled().value(POLICY, th, b)
    assert ClippedRatio(epsilon=0.2).value(POLICY, th, b) <= L_is + 1e-12  # min(rA, clip(r)A) <= rA
    L_tf = ClippedObjective(delta=0.01).value(POLICY, th, b)
    assert L_tf <= L_is - np.sum(b.weights * b.adv) + 1e-12  # min((r-1)A, delta) <= (r-1)A
    # equal values and gradients at theta_k
    for s in (ClippedRatio(epsilon=0.2), ClippedObjective(delta=0.01)):
        L, g = s.value_and_grad(POLICY, th_k, b)
        L_ref, g_ref = ImportanceSampled().value_and_grad(POLICY, th_k, b)
        assert L == pytest.approx(L_ref, abs=1e-12)
        np.testing.assert_allclose(g, g_ref, atol=1e-14)


# ----------------------------------------------------------------------------- distances


def test_distances_equal_tabular_divergences_under_dbar():
    th_k, th = _theta(1), _theta(2)
    b = _exact_batch(th_k)
    pi_k, pi = POLICY.probs(th_k), POLICY.probs(th)
    dbar = tabular.normalized_visitation(MDP, tabular.evaluate(MDP, pi_k))
    assert MeanKL()(POLICY, th_k, th, b) == pytest.approx(np.sum(dbar * tabular.kl(pi_k, pi)), rel=1e-12)
    assert MeanTV()(POLICY, th_k, th, b) == pytest.approx(np.sum(dbar * tabular.tv(pi_k, pi)), rel=1e-12)
    assert MaxKL()(POLICY, th_k, th, b) == pytest.approx(np.max(tabular.kl(pi_k, pi)), rel=1e-12)
    assert Euclidean()(POLICY, th_k, th, b) == pytest.approx(0.5 * np.sum((th - th_k) ** 2))
    assert MaxKL().metric_vector_product(POLICY, th_k, b) is None
    assert MeanTV().metric_vector_product(POLICY, th_k, b) is None


def test_mean_kl_metric_is_fisher_and_kl_hessian():
    th_k = _theta(3)
    b = _exact_batch(th_k)
    mvp = MeanKL().metric_vector_product(POLICY, th_k, b)
    n = S * A
    F = np.column_stack([mvp(np.eye(n)[i]) for i in range(n)])
    dbar = tabular.normalized_visitation(MDP, tabular.evaluate(MDP, POLICY.probs(th_k)))
    np.testing.assert_allclose(F, POLICY.base.fisher_matrix(th_k.reshape(S, A), dbar), rtol=1e-12, atol=1e-15)
    # Hessian of the mean KL by central differences of its value
    h = 1e-4
    kl = lambda x: MeanKL()(POLICY, th_k, x, b)  # noqa: E731
    H = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            ei, ej = np.eye(n)[i] * h, np.eye(n)[j] * h
            H[i, j] = (kl(th_k + ei + ej) - kl(th_k + ei - ej) - kl(th_k - ei + ej) + kl(th_k - ei - ej)) / (4 * h * h)
    np.testing.assert_allclose(F, H, atol=1e-6)


def test_loop_policies_have_the_protocol_and_take_fisher_weights_as_given():
    """Every loop policy has the members of core.protocols.Policy (what the loop and the generic
    components call). fisher_vector_product takes its weights AS GIVEN: on an exact batch
    (w = rho_pi(s) pi(a|s), sum 1/(1-gamma) = 10) it is the rho_pi-weighted (UNNORMALIZED) Fisher
    matrix of the oracle, and MeanKL's metric is that product at the normalized weights (dbar_pi)."""
    from trustopt.components.search import GaussianSearch
    from trustopt.components.flat_policies import FlatLinearGaussian
    from trustopt.core.protocols import Policy
    from trustopt.policies import LinearGaussian

    for pol in (POLICY, FlatLinearGaussian(LinearGaussian(2, 1)), GaussianSearch(n_params=3)):
        assert isinstance(pol, Policy), type(pol).__name__
    th_k = _theta(5)
    b = _exact_batch(th_k)
    ev = tabular.evaluate(MDP, POLICY.probs(th_k))
    F_rho = POLICY.base.fisher_matrix(th_k.reshape(S, A), ev.rho)
    F_dbar = POLICY.base.fisher_matrix(th_k.reshape(S, A), tabular.normalized_visitation(MDP, ev))
    mvp = MeanKL().metric_vector_product(POLICY, th_k, b)
    for v in np.random.default_rng(0).normal(size=(3, S * A)):
        np.testing.assert_allclose(POLICY.fisher_vector_product(th_k, b.states, b.weights, v), F_rho @ v,
                                   rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(mvp(v), F_dbar @ v, rtol=1e-12, atol=1e-14)


def test_reported_kl_is_the_mean_kl_and_survives_zero_weights():
    from dataclasses import replace

    from trustopt.components.steps import mean_kl

    th_k, th = _theta(3), _theta(4)
    b = _exact_batch(th_k)
    per_state = tabular.kl(POLICY.probs(th_k), POLICY.probs(th))  # (S,), the oracle's KL(pi_k || pi)
    dbar = tabular.normalized_visitation(MDP, tabular.evaluate(MDP, POLICY.probs(th_k)))
    assert mean_kl(POLICY, th_k, th, b) == pytest.approx(float(dbar @ per_state), rel=1e-12)
    zero = replace(b, weights=np.zeros_like(b.weights))  # all-zero weights: uniform average, not 0/0
    assert mean_kl(POLICY, th_k, th, zero) == pytest.approx(float(np.mean(per_state[b.states])), rel=1e-12)
    assert mean_kl(POLICY, th_k, th, zero) == MeanKL()(POLICY, th_k, th, zero)


# ----------------------------------------------------------------------------- step solvers


def _model(th_k, b, surrogate=ImportanceSampled()):
    L0, g0 = surrogate.value_and_grad(POLICY, th_k, b)
    return L0, g0


def _sub(th_k, b, surrogate=ImportanceSampled(), distance=MeanKL()):
    """The trust-region subproblem at ``th_k`` on ``b`` (a step solver's ``model``)."""
    return subproblem(POLICY, th_k, b, surrogate, distance, *surrogate.value_and_grad(POLICY, th_k, b))


@pytest.mark.parametrize("damping", [1e-3, 0.1])
def test_natural_step_is_the_dense_solution_on_the_boundary(damping):
    th_k = _theta(4)
    b = _exact_batch(th_k)
    L0, g0 = _model(th_k, b)
    delta = 0.02
    step = NaturalGradientStep(cg_iters=S * A, cg_damping=damping, max_backtracks=0)
    p = step.propose(_sub(th_k, b), delta, None)
    mvp = MeanKL().metric_vector_product(POLICY, th_k, b)
    F = np.column_stack([mvp(e) for e in np.eye(S * A)]) + damping * np.eye(S * A)
    x = np.linalg.solve(F, g0)
    ref = th_k + np.sqrt(2 * delta / (x @ F @ x)) * x  # argmax g'd s.t. 1/2 d'Fd <= delta
    np.testing.assert_allclose(p.theta, ref, rtol=1e-7, atol=1e-9)
    d = p.theta - th_k
    assert 0.5 * d @ F @ d == pytest.approx(delta, rel=1e-9)
    assert p.status == "ok" and p.predicted_gain > 0


def test_trpo_step_respects_kl_and_improves():
    th_k = _theta(5, 3.0)
    b = _exact_batch(th_k)
    L0, g0 = _model(th_k, b)
    for delta in (0.01, 0.1, 1.0):
        p = NaturalGradientStep().propose(_sub(th_k, b), delta, None)
        assert p.status == "ok"
        assert p.distance <= delta and p.kl == pytest.approx(p.distance) and p.predicted_gain > 0


def test_stro_inner_solver_one_iteration_equals_trpo_step_and_more_iterations_do_better():
    th_k = _theta(6)
    b = _exact_batch(th_k)
    L0, g0 = _model(th_k, b)
    delta = 0.005
    trpo = NaturalGradientStep().propose(_sub(th_k, b), delta, None)
    one = StroInnerSolver(max_inner=1, tau=1e-9).propose(_sub(th_k, b), delta, np.random.default_rng(0))
    assert trpo.n_inner == 0  # full step accepted
    np.testing.assert_allclose(one.theta, trpo.theta, rtol=1e-13, atol=1e-15)
    many = StroInnerSolver(max_inner=20, epsilon=1e-12).propose(_sub(th_k, b), delta, np.random.default_rng(0))
    assert many.distance <= delta and many.predicted_gain >= one.predicted_gain * (1 - 1e-12)


def test_stro_inner_solver_entropy_test_stops_early():
    th_k = _theta(6)
    b = _exact_batch(th_k)
    L0, g0 = _model(th_k, b)
    p = StroInnerSolver(max_inner=20, epsilon=1e-6).propose(_sub(th_k, b), 0.05, np.random.default_rng(0))
    assert p.n_inner == 1 and "(4.9)" in p.message


def test_exact_tabular_step_is_the_exact_kl_subproblem():
    th_k = _theta(8)
    b = _exact_batch(th_k)
    L0, g0 = _model(th_k, b)
    pi_k = POLICY.probs(th_k)
    dbar = tabular.normalized_visitation(MDP, tabular.evaluate(MDP, pi_k))
    for div, dist in (("kl", MeanKL()), ("tv", MeanTV())):
        p = ExactTabularStep(divergence=div).propose(_sub(th_k, b, distance=dist), 0.05, None)
        solve = tabular.solve_kl_subproblem if div == "kl" else tabular.solve_tv_subproblem
        ref = solve(MDP, pi_k, 0.05, weights=dbar)
        np.testing.assert_allclose(POLICY.probs(p.theta), ref.pi, atol=1e-12)
        assert p.predicted_gain == pytest.approx(ref.surrogate - L0, rel=1e-9)
        assert p.distance <= 0.05 * (1 + 1e-6)


def test_exact_tabular_step_needs_an_exact_batch():
    th_k = _theta(8)
    b = TabularEpisodeSampler(mdp=MDP, n_episodes=5).sample(POLICY, th_k, np.random.default_rng(0))
    L0, g0 = _model(th_k, b)
    p = ExactTabularStep().propose(_sub(th_k, b), 0.05, None)
    assert p.status == "subproblem_failed" and np.array_equal(p.theta, th_k)


def test_clipped_ascent_sgd_single_epoch_equals_gradient_step():
    th_k = _theta(9)
    b = _exact_batch(th_k)
    L0, g0 = _model(th_k, b)
    a = ClippedAscent(epochs=1, n_minibatches=1, optimizer="sgd", learning_rate=0.3).propose(
        _sub(th_k, b, ClippedRatio(epsilon=1e9)), 1.0, np.random.default_rng(0))
    g = GradientStep(learning_rate=0.3).propose(_sub(th_k, b), 1.0, None)
    np.testing.assert_allclose(a.theta, g.theta, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(g.theta, th_k + 0.3 * g0, rtol=0, atol=0)


@pytest.mark.parametrize("surrogate", [ClippedRatio(epsilon=1e9, normalize_advantages=True),
                                       ClippedObjective(delta=1e9, normalize_advantages=True)])
def test_clipped_ascent_on_an_exact_batch_normalizes_minibatches_with_the_full_batch(surrogate):
    """An exact batch is the whole (s, a) table: a minibatch of one pair centred by its own mean has
    advantage 0, so PPO / TREFree with n_minibatches >= the number of pairs made a null step
    ('predicted gain 0 <= 0' at every iteration of run('ppo', bandit, exact=True)). With the full
    batch's (m, s), one SGD epoch of N one-pair minibatches (weights scaled by N) is, to first
    order in the learning rate, N times the full batch's normalized gradient step."""
    th_k = _theta(10)
    b = _exact_batch(th_k)
    N, lr = b.n_pairs, 1e-6
    _, g_full = ImportanceSampled(normalize_advantages=True).value_and_grad(POLICY, th_k, b)
    p = ClippedAscent(epochs=1, n_minibatches=N, optimizer="sgd", learning_rate=lr).propose(
        _sub(th_k, b, surrogate), 1.0, np.random.default_rng(0))
    assert p.status == "ok" and p.predicted_gain > 0
    np.testing.assert_allclose(p.theta - th_k, lr * N * g_full, rtol=1e-4, atol=1e-12)


def test_a_minibatch_of_an_exact_batch_is_normalized_with_the_whole_batch():
    """The mechanism behind the test above, for every solver that subsamples (STRO's inner
    solver with ``subsample < 1`` too): ``Batch.subset`` of an exact batch keeps it as ``whole``,
    and a normalizing surrogate takes ``(m, s)`` from it; a sampled minibatch keeps its own."""
    from dataclasses import replace

    from trustopt.components.surrogates import advantage_stats

    th_k = _theta(10)
    b = _exact_batch(th_k)
    one = b.subset(np.array([3]))
    assert one.whole is b and b.subset(np.array([1, 2])).subset(np.array([0])).whole is b
    m, s = advantage_stats(b)
    mb = ImportanceSampled(normalize_advantages=True)
    _, g_one = mb.value_and_grad(POLICY, th_k, one)
    _, g_raw = ImportanceSampled().value_and_grad(POLICY, th_k, replace(one, adv=(one.adv - m) / s, whole=None))
    np.testing.assert_array_equal(g_one, g_raw)
    assert np.any(g_one != 0.0)  # its own mean would centre the one pair to 0
    sampled = replace(b, exact=False).subset(np.array([3]))
    assert sampled.whole is None


def test_exact_stro_on_subsamples_reaches_the_optimum_of_a_bandit():
    # one state, two actions: a subsample of 0.5 is one pair; centred by itself it had gradient 0,
    # which exact mode took for a stationary point ("converged" at the uniform policy)
    import trustopt

    bandit = tabular.TabularMDP(np.ones((1, 2, 1)), np.array([[0.0, 1.0]]), np.ones(1), 0.9)
    res = trustopt.run("stro", bandit, max_iter=20, seed=0, exact=True, subsample=0.5)
    assert res.policy[0, 1] > 1 - 1e-6


# ----------------------------------------------------------------------------- acceptance, radius


def _batch(eta, eta_std, returns=()):
    z = np.zeros(1, dtype=np.int64)
    return Batch(theta=np.zeros(S * A), states=z, actions=z, weights=np.ones(1), adv=np.zeros(1), logp_old=np.zeros(1),
                 returns=np.asarray(returns, float), eta=eta, eta_std=eta_std, n_samples=1)


def test_stro_ratio_and_ratio_test_decisions():
    assert stro_ratio(1.3, 1.0, 0.5, 0.1) == pytest.approx(0.3 / 0.6)  # eq. 4.14
    assert stro_ratio(1.3, 1.0, 0.0, 0.6) == pytest.approx(0.5)  # eq. 3.2
    assert np.isnan(stro_ratio(1.0, 1.0, 0.0, 0.0))
    p = Proposal(theta=np.zeros(S * A), predicted_gain=0.1)
    rt = RatioTest(beta0=0.0, max_rejections=3)
    assert rt.decide(p, _batch(1.0, 0.5), _batch(1.2, 0.1), 0).action == "accept"
    assert rt.decide(p, _batch(1.0, 0.5), _batch(0.9, 0.1), 0).action == "reject_merge"
    assert rt.decide(p, _batch(1.0, 0.5), _batch(0.9, 0.1), 1).action == "reject_merge"
    assert rt.decide(p, _batch(1.0, 0.5), _batch(0.9, 0.1), 2).action == "force_best"
    assert RatioTest(max_rejections=None).decide(p, _batch(1.0, 0.5), _batch(0.9, 0.1), 99).action == "reject_merge"
    assert AlwaysAccept().decide(p, None, None, 0).accepted


def test_improvement_within_radius_checks_gain_and_radius():
    """TRPO App. C: accept iff L_hat improves and D_hat <= (1 + rtol) delta_k."""
    acc = ImprovementWithinRadius(rtol=1e-3)
    th = np.zeros(S * A)

    def p(gain, dist, radius):
        return Proposal(theta=th, predicted_gain=gain, distance=dist, radius=radius)

    assert acc.decide(p(0.1, 0.01, 0.01), None, None, 0).action == "accept"  # on the boundary
    assert acc.decide(p(0.1, 0.01 * (1 + 0.9e-3), 0.01), None, None, 0).action == "accept"  # within the slack
    assert acc.decide(p(0.1, 0.01 * (1 + 1.1e-3), 0.01), None, None, 0).action == "reject"  # over the radius
    assert acc.decide(p(0.1, 0.02, 0.01), None, None, 0).action == "reject"
    assert acc.decide(p(-0.1, 0.005, 0.01), None, None, 0).action == "reject"  # no improvement
    assert acc.decide(p(0.1, float("nan"), 0.01), None, None, 0).action == "reject"
    assert acc.decide(p(0.1, 0.005, float("nan")), None, None, 0).action == "reject"  # radius unknown
    # AlwaysAccept takes the over-radius proposal: the two rules differ.
    assert AlwaysAccept().decide(p(0.1, 0.02, 0.01), None, None, 0).accepted


def test_loop_records_the_radius_on_the_proposal():
    """The loop hands delta_k to the acceptance rule through Proposal.radius: an over-radius
    gradient step (alpha too large) is rejected by TRPO's rule, kept by AlwaysAccept."""
    from trustopt.core import Method, drive
    sampler, dist = ExactTabularSampler(mdp=MDP), MeanKL()
    for acc, accepted in ((ImprovementWithinRadius(), False), (AlwaysAccept(), True)):
        m = Method(name="t", policy=POLICY, sampler=sampler, surrogate=ImportanceSampled(), distance=dist,
                   step=GradientStep(learning_rate=100.0), acceptance=acc, radius_rule=ConstantRadius(delta=1e-4),
                   theta0=np.zeros(S * A))
        _, hist, _ = drive(m, max_iter=1, rng=np.random.default_rng(0))
        assert hist[0].distance > 1e-4 and hist[0].radius == 1e-4
        assert hist[0].accepted is accepted


def test_radius_rules_branches():
    r = RatioRadius(delta0=0.1, beta0=0.1, beta1=0.5, gamma1=2.0, gamma2=0.8, gamma3=0.5, delta_max=0.3)
    assert r.update(0.1, 0.7) == pytest.approx(0.2)
    assert r.update(0.2, 0.7) == pytest.approx(0.3)  # capped
    assert r.update(0.1, 0.3) == pytest.approx(0.08)
    assert r.update(0.1, -1.0) == pytest.approx(0.05)
    assert r.update(0.1, float("nan")) == pytest.approx(0.05)
    g = GradientNormRadius()
    assert g.initial() == 0.05 and g.radius(0.05, 4.0) == pytest.approx(0.2)  # delta = mu ||g||
    assert g.update(0.05, 0.0) == pytest.approx(0.1)  # min(2 mu, mu_max)
    assert g.update(0.08, 0.0) == pytest.approx(0.1)
    assert g.update(0.05, -0.1) == pytest.approx(0.03)  # gamma3
    assert g.update(0.012, -0.1) == pytest.approx(0.01)  # mu_min
    g2 = GradientNormRadius(beta0=-0.2, beta1=0.0)
    assert g2.update(0.05, -0.1) == pytest.approx(0.04)  # gamma2 branch [beta0, beta1)
    assert g2.update(0.05, -0.3) == pytest.approx(0.03)  # gamma3 below beta0
    assert g2.update(0.012, -0.1) == pytest.approx(0.01)  # gamma2 branch floored at mu_min
    assert g2.update(0.05, float("nan")) == pytest.approx(0.03)  # failed step: shrink
    c = ConstantRadius(delta=0.3)
    assert c.radius(c.update(c.initial(), -5.0), 100.0) == 0.3


@pytest.mark.parametrize(
    "factory,field",
    [
        (lambda: ConstantRadius(delta=0.0), "delta"),
        (lambda: RatioRadius(gamma1=0.5), "gamma1"),
        (lambda: RatioRadius(gamma1=1.0), "gamma1"),  # eq. 3.4: 1 < gamma1
        (lambda: RatioRadius(beta0=0.3, beta1=0.3), "beta1"),  # eq. 3.4: beta0 < beta1
        (lambda: RatioRadius(beta0=0.0), "beta0"),  # eq. 3.4: 0 < beta0
        (lambda: RatioRadius(gamma3=0.8), "gamma3"),  # gamma3 < gamma2
        (lambda: GradientNormRadius(gamma1=1.0), "gamma1"),  # eq. 4.16 with eq. 3.4's factors
        (lambda: GradientNormRadius(beta0=0.1, beta1=0.0), "beta1"),
        (lambda: RatioRadius(gamma2=1.5), "gamma2"),
        (lambda: RatioRadius(delta0=100.0), "delta0"),
        (lambda: GradientNormRadius(mu0=0.5), "mu0"),
        (lambda: RatioTest(max_rejections=0), "max_rejections"),
        (lambda: RatioTest(beta0=float("nan")), "beta0"),
        (lambda: NaturalGradientStep(cg_damping=-1.0), "cg_damping"),
        (lambda: NaturalGradientStep(max_backtracks=-1), "max_backtracks"),
        (lambda: ClippedAscent(n_minibatches=0), "n_minibatches"),
        (lambda: ClippedAscent(beta2=1.0), "beta2"),
        (lambda: StroInnerSolver(subsample=0.0), "subsample"),
        (lambda: StroInnerSolver(epsilon=0.0), "epsilon"),
        (lambda: ExactTabularStep(divergence="hellinger"), "divergence"),
        (lambda: GradientStep(learning_rate=-1.0), "learning_rate"),
        (lambda: ClippedRatio(epsilon=-0.2), "epsilon"),
        (lambda: TabularEpisodeSampler(mdp=MDP, n_episodes=1), "n_episodes"),
        (lambda: TabularVineSampler(mdp=MDP, n_rollout_states=0), "n_rollout_states"),
        (lambda: TabularEpisodeSampler(mdp="mdp"), "mdp"),
        # a flag given as a string or a number would be read by its truthiness ("no" normalizes)
        (lambda: ImportanceSampled(normalize_advantages="no"), "normalize_advantages"),
        (lambda: ClippedRatio(epsilon=0.2, normalize_advantages="no"), "normalize_advantages"),
        (lambda: ClippedObjective(delta=0.1, normalize_advantages=0), "normalize_advantages"),
        (lambda: get("ppo")(MDP, normalize_advantages="no"), "normalize_advantages"),
        (lambda: RatioRadius(enlarge_at_boundary_only="no"), "enlarge_at_boundary_only"),
        (lambda: FreshRatioTest(use_std="no"), "use_std"),
        (lambda: FreshRatioTest(center=1), "center"),
        (lambda: GradientStep(learning_rate=0.1, cap_kl="no"), "cap_kl"),
        (lambda: StroInnerSolver(alternating="no"), "alternating"),
        (lambda: TabularEpisodeSampler(mdp=MDP, use_baseline="no"), "use_baseline"),
        (lambda: get("trpo")(MDP, use_baseline="no"), "use_baseline"),
        (lambda: ESGradientStep(natural="no"), "natural"),
        (lambda: PerturbationSampler(sigma0=0.1, n_pairs=2, orthogonal="no"), "orthogonal"),
        (lambda: PerturbationSampler(sigma0=0.1, n_pairs=2, center=1), "center"),
    ],
)
def test_components_reject_bad_hyperparameters(factory, field):
    with pytest.raises(ValidationError, match=field):
        factory()


def test_components_are_frozen_and_keyword_only():
    with pytest.raises(TypeError):
        ClippedRatio(0.2)  # keyword-only
    c = ClippedRatio(epsilon=0.2)
    with pytest.raises(Exception):
        c.epsilon = 0.3


# ----------------------------------------------------------------------------- samplers (Monte Carlo)


def _mc(fn, n_batches, seed=0):
    rng = np.random.default_rng(seed)
    vals = np.array([fn(rng) for _ in range(n_batches)])
    return vals.mean(axis=0), vals.std(axis=0, ddof=1) / np.sqrt(n_batches)


def test_episode_sampler_is_unbiased_for_visitation_eta_and_gradient():
    """Geometric termination: E[sum_i w_i 1{s_i = s}] = rho(s), E[eta_hat] = eta, and with
    lambda = 1 and no baseline E[sum_i w_i A_i grad log pi] = grad eta. Checked within 5
    standard errors (per component: false alarm about 6e-7 each under normality), plus the
    truncation bias gamma^T max|r|/(1-gamma) <= 1e-5."""
    th = _theta(10, 0.5)
    ev = tabular.evaluate(MDP, POLICY.probs(th))
    sampler = TabularEpisodeSampler(mdp=MDP, n_episodes=50, lambda_=1.0, use_baseline=False)

    def one(rng):
        b = sampler.sample(POLICY, th, rng)
        visits = np.bincount(b.states, weights=b.weights, minlength=S)
        _, g = ImportanceSampled().value_and_grad(POLICY, th, b)
        return np.concatenate([visits, [b.eta], g])

    mean, se = _mc(one, 300)
    ref = np.concatenate([ev.rho, [ev.eta], tabular.grad_eta_softmax(MDP, th.reshape(S, A)).ravel()])
    assert np.all(np.abs(mean - ref) <= 5 * se + 1e-5), np.max(np.abs(mean - ref) / se)


def test_vine_sampler_gradient_is_unbiased():
    th = _theta(11, 0.5)
    sampler = TabularVineSampler(mdp=MDP, n_trunk_episodes=5, n_rollout_states=20)

    def one(rng):
        b = sampler.sample(POLICY, th, rng)
        _, g = ImportanceSampled().value_and_grad(POLICY, th, b)
        return g

    mean, se = _mc(one, 300)
    ref = tabular.grad_eta_softmax(MDP, th.reshape(S, A)).ravel()
    assert np.all(np.abs(mean - ref) <= 5 * se + 1e-5), np.max(np.abs(mean - ref) / se)


def test_vine_advantages_centered_per_state_and_weights_on_rho_scale():
    th = _theta(12)
    b = TabularVineSampler(mdp=MDP, n_trunk_episodes=3, n_rollout_states=7).sample(POLICY, th, np.random.default_rng(0))
    per_state = (POLICY.probs(th)[b.states][np.arange(b.n_pairs), b.actions] * b.adv).reshape(7, A).sum(axis=1)
    np.testing.assert_allclose(per_state, 0.0, atol=1e-12)
    assert b.n_pairs == 7 * A
    assert np.sum(b.weights) == pytest.approx(1.0 / (1.0 - MDP.gamma), rel=1e-12)


def test_merge_batches_reaverages_over_episodes():
    th = _theta(13)
    s = TabularEpisodeSampler(mdp=MDP, n_episodes=4)
    b1 = s.sample(POLICY, th, np.random.default_rng(1))
    s2 = TabularEpisodeSampler(mdp=MDP, n_episodes=12)
    b2 = s2.sample(POLICY, th, np.random.default_rng(2))
    m = merge_batches(b1, b2)
    f = lambda b: np.sum(b.weights * b.adv)  # noqa: E731
    assert f(m) == pytest.approx((4 * f(b1) + 12 * f(b2)) / 16)
    assert m.eta == pytest.approx(np.mean(np.concatenate([b1.returns, b2.returns])))
    assert m.n_samples == b1.n_samples + b2.n_samples and m.n_pairs == b1.n_pairs + b2.n_pairs
    e1, e2 = _exact_batch(th), _exact_batch(th)
    assert merge_batches(e1, e2) is e2
    with pytest.raises(ValueError):
        merge_batches(b1, s.sample(POLICY, th + 1, np.random.default_rng(3)))


# ----------------------------------------------------------------------------- advantage normalization


@pytest.mark.parametrize("make", [
    lambda norm: ImportanceSampled(normalize_advantages=norm),
    lambda norm: ClippedRatio(epsilon=0.2, normalize_advantages=norm),
    lambda norm: ClippedObjective(delta=0.05, normalize_advantages=norm),
])
def test_normalized_surrogates_equal_raw_ones_on_hand_normalized_advantages(make):
    """normalize_advantages=True is the raw surrogate with A_i <- (A_i - m) / s, m and s the
    w-weighted mean and std (np.average, computed here independently), on a sampled batch
    (m != 0) and on a minibatch (statistics of the minibatch); the proposal's predicted gain is
    s times the normalized gain (GradientStep on both)."""
    from dataclasses import replace

    from trustopt.components.steps import gain_scale
    from trustopt.components.surrogates import advantage_stats

    th = _theta(3, 0.5)
    b = TabularEpisodeSampler(mdp=MDP, n_episodes=20).sample(POLICY, th, np.random.default_rng(0))
    for batch in (b, b.subset(np.arange(0, b.n_pairs, 3))):
        m = np.average(batch.adv, weights=batch.weights)
        s = np.sqrt(np.average((batch.adv - m) ** 2, weights=batch.weights))
        assert abs(m) > 1e-3 * s  # a sampled batch is not centered: the test sees the centering
        assert advantage_stats(batch) == pytest.approx((m, s + 1e-8), rel=1e-12)
        by_hand = replace(batch, adv=(batch.adv - m) / (s + 1e-8))
        for theta in (th, th + 0.3 * np.random.default_rng(1).normal(size=th.size)):
            L, g = make(True).value_and_grad(POLICY, theta, batch)
            L_ref, g_ref = make(False).value_and_grad(POLICY, theta, by_hand)
            assert L == pytest.approx(L_ref, rel=1e-12) and make(True).value(POLICY, theta, batch) == L
            np.testing.assert_allclose(g, g_ref, rtol=1e-12, atol=1e-15)
        sur = make(True)
        L0, g0 = sur.value_and_grad(POLICY, th, batch)
        prop = GradientStep(learning_rate=0.1).propose(subproblem(POLICY, th, batch, sur, MeanKL(), L0, g0), 1.0, None)
        assert gain_scale(sur, batch) == advantage_stats(batch)[1]
        assert prop.predicted_gain == pytest.approx((sur.value(POLICY, prop.theta, batch) - L0) * (s + 1e-8),
                                                    rel=1e-12)
    assert gain_scale(make(False), b) == 1.0


def test_advantage_stats_of_huge_advantages_do_not_overflow():
    """Advantages of ~1e200 (rewards of that scale): the sum of squares overflowed, s = inf, and
    every normalized advantage was 0 (a false stationary point). The statistics scale with A."""
    from dataclasses import replace

    from trustopt.components.surrogates import advantage_stats

    b = TabularEpisodeSampler(mdp=MDP, n_episodes=20).sample(POLICY, _theta(3, 0.5), np.random.default_rng(0))
    m, s = advantage_stats(b)
    m_big, s_big = advantage_stats(replace(b, adv=b.adv * 1e200))
    assert m_big == pytest.approx(m * 1e200, rel=1e-12) and s_big == pytest.approx((s - 1e-8) * 1e200, rel=1e-12)


def test_gradient_step_kl_cap():
    """cap_kl: alpha = min(learning_rate, sqrt(2 delta / g'Fg)) with F the dense Fisher matrix
    (MeanKL metric, checked against the KL Hessian above); without the cap, alpha = learning_rate."""
    th = _theta(4, 0.5)
    b = _exact_batch(th)
    L0, g0 = ImportanceSampled().value_and_grad(POLICY, th, b)
    mvp = MeanKL().metric_vector_product(POLICY, th, b)
    F = np.column_stack([mvp(e) for e in np.eye(th.size)])
    cap = np.sqrt(2 * 0.01 / (g0 @ F @ g0))
    for lr in (0.1 * cap, 10 * cap):
        prop = GradientStep(learning_rate=lr, cap_kl=True).propose(_sub(th, b), 0.01, None)
        np.testing.assert_allclose(prop.theta - th, min(lr, cap) * g0, rtol=1e-10, atol=1e-15)
        plain = GradientStep(learning_rate=lr).propose(_sub(th, b), 0.01, None)
        np.testing.assert_allclose(plain.theta - th, lr * g0, rtol=1e-12)
    assert GradientStep(learning_rate=1.0, cap_kl=True).uses_radius and not GradientStep(learning_rate=1.0).uses_radius


def test_every_part_of_the_loop_is_exported_from_trustopt_components():
    """A variant is composed from ``trustopt.components`` (README, "Your own variant"): every
    sampler, surrogate, distance, step solver, acceptance and radius rule of its modules is there."""
    import importlib
    import pkgutil

    import trustopt.components as components

    members = ("sample", "value_and_grad", "metric_vector_product", "propose", "decide", "update")
    for info in pkgutil.iter_modules(components.__path__):
        module = importlib.import_module(f"trustopt.components.{info.name}")
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if isinstance(obj, type) and any(hasattr(obj, m) for m in members):
                assert name in components.__all__, f"trustopt.components.{info.name}.{name} is not exported"
