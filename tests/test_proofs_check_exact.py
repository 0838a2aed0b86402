"""Exact certificates: rational intervals enclose log/exp/sqrt; documented violations are proved
on exact rationals; a float "violation" that is round-off is refuted, never reported."""

import math
from fractions import Fraction as F

import numpy as np
import pytest

from proofs_check import Claim, get, run_claim
from proofs_check import _rational as R
from proofs_check import kakade_langford
from proofs_check.registry import Outcome


@pytest.mark.parametrize("x", [F(1, 3), F(5), F(1, 10**9), F(7, 2), F(10**12 + 1, 10**12)])
def test_log_sqrt_enclose_the_true_value(x):
    i = R.log(x)
    assert i.lo <= F(math.log(x)) + F(1, 10**15) and F(math.log(x)) - F(1, 10**15) <= i.hi and i.hi - i.lo < F(1, 10**50)
    # exp(log x) encloses x: the two enclosures compose
    e = R.exp(i)
    assert e.lo <= x <= e.hi
    s = R.sqrt(x)
    assert s.lo**2 <= x <= s.hi**2 and s.hi - s.lo < F(1, 10**18)


def test_exact_tabular_oracle_on_a_hand_example():
    # 2 states, s0 -a0-> s1, s0 -a1-> s0, s1 absorbing with reward 1; gamma 1/2, start in s0
    M = R.MDP([[[F(0), F(1)], [F(1), F(0)]], [[F(0), F(1)], [F(0), F(1)]]], [[F(0), F(0)], [F(1), F(1)]],
              [F(1), F(0)], F(1, 2))
    go = [[F(1), F(0)], [F(1), F(0)]]
    ev = R.evaluate(M, go)
    assert ev.V == [F(1), F(2)] and ev.eta == 1 and sum(ev.rho) == 2 and ev.rho == [F(1), F(1)]
    assert R.optimal_eta(M) == 1


@pytest.mark.parametrize("claim_id", ["identity.trpo-perturbation", "bound.trpo-lemma3.middle-term",
                                      "optimality.advantage.rho0-zeros"])
def test_documented_violations_are_proved_exactly(claim_id):
    res = run_claim(get(claim_id), 40, seed=0, search_budget=64)
    assert res.status == "violated" and res.certified and res.verdict == "violated (exact)"
    cert = res.counterexample["certificate"]
    assert cert["violated"] and F(cert["slack_upper"]) < 0
    # the certificate's instance is exactly rational (probability rows sum to 1 exactly)
    pi = [[F(x) for x in row] for row in cert["instance"]["pi"]]
    assert all(sum(row) == 1 for row in pi)


def test_round_off_cannot_produce_a_violation():
    # the PDL identity with ZERO tolerance: float round-off (~1e-16) is a "violation" in floating
    # point, and the exact evaluator refutes every one of them
    base = get("pdl.kakade-langford")
    strict = lambda b: Outcome(slack=base.check(b).slack, scale=base.check(b).scale, rtol=0.0, atol=0.0)
    claim = Claim(id="test.pdl-zero-tolerance", source="test", statement="PDL, zero tolerance", kind="identity",
                  draw=base.draw, check=strict, schema=base.schema, exact=kakade_langford.exact_pdl)
    res = run_claim(claim, 200, seed=0, regressions_dir=False)
    assert res.unconfirmed_violations > 0  # float round-off did trip the zero tolerance
    assert res.status == "holds" and res.violations == 0 and res.counterexample is None
    assert res.verdict == "holds (float violations refuted exactly)"
    # the same claim without an exact evaluator reports them as a float violation
    float_only = Claim(id="test.pdl-zero-tolerance-float", source="test", statement="PDL", kind="identity",
                       draw=base.draw, check=strict, schema=base.schema)
    assert run_claim(float_only, 200, seed=0, regressions_dir=False).verdict == "violated (float)"


def test_stro_lemma36_fails_in_its_own_setting_exactly():
    # one state, gamma 9/10, r(a) = -(a - 10)^2/2, mu_k = 0, sigma 1, delta 1/5: gain 99/5 < 10 sqrt 5
    inst = {"P": np.array([[1.0]]), "rho0": np.array([1.0]), "gamma": np.array(0.9), "H": np.array([[1.0]]),
            "astar": np.array([[10.0]]), "mu": np.array([[0.0]]), "sigma": np.array([1.0]), "delta": np.array(0.2)}
    cert = get("stro.gaussian").exact(inst)
    assert cert.violated and cert.sides["max_gain_upper"] == F(99, 5)
    b = cert.sides["bound"]
    assert b.lo**2 <= 500 <= b.hi**2  # the bound is 10 sqrt(5)
    assert not get("stro.gaussian.corrected").exact(inst).violated


@pytest.mark.parametrize("claim_id, rc", [("identity.trpo-perturbation", 0), ("bound.trpo-lemma3.middle-term", 0),
                                          ("optimality.advantage.rho0-zeros", 0), ("stro.gaussian", 0), ("stro.gaussian.lemma3.7", 0),
                                          ("stro.gaussian-lqr", 0), ("stro.gaussian-lqr.corrected", 2), ("no.such-claim", 2)])
def test_cli_certify(claim_id, rc, capsys):
    from proofs_check.__main__ import main

    assert main(["--certify", claim_id]) == rc
    out = capsys.readouterr()
    if rc == 0:
        assert out.out.startswith(f"{claim_id}: violated (exact): slack")
    else:
        why = "unknown claim id 'no.such-claim'" if claim_id == "no.such-claim" else "no stored counterexample"
        assert out.err.count("\n") == 1 and why in out.err


def test_exact_softmax_gradient_matches_the_policy_gradient_theorem():
    # independent derivations: implicit differentiation of V (exact) vs rho-weighted advantages
    rng = np.random.default_rng(0)
    inst = {k: v[0] for k, v in get("pg.theorem").draw(rng, 1)[0].items()}
    M = R.MDP.from_instance(inst)
    S, A = M.S, M.A
    pi = R.rational_dist(np.full((S, A), 1.0 / A) if A else None)
    ev = R.evaluate(M, pi)
    g = R.grad_eta_softmax(M, pi)
    for s in range(S):
        for b in range(A):
            pg = ev.rho[s] * sum(pi[s][a] * ((1 if a == b else 0) - pi[s][b]) * ev.A[s][a] for a in range(A))
            assert g[s][b] == pg


def test_cli_certify_a_json_file_that_is_not_a_counterexample(tmp_path, capsys):
    import json

    from proofs_check.__main__ import main

    claim = get("bound.trpo-tv")  # a true bound: any instance is a non-counterexample
    inst = {k: v[0].tolist() for k, v in claim.draw(np.random.default_rng(0), 1)[0].items()}
    path = tmp_path / "ce.json"
    path.write_text(json.dumps({"claim": "bound.trpo-tv", "instance": inst}))
    assert main(["--certify", str(path)]) == 1
    assert "bound.trpo-tv: NOT violated on exact rationals" in capsys.readouterr().out


def _lemma37_witness():
    return {"P": np.array([[[0.0, 1.0], [1.0, 0.0]], [[1.0, 0.0], [1.0, 0.0]]]), "r": np.array([[1.0, 0.0], [0.0, 0.0]]),
            "rho0": np.array([0.5, 0.5]), "gamma": np.array(0.5), "mu": np.array(1.0), "sigma": np.array(1.0),
            "delta": np.array(1e-4)}


def test_stro_lemma37_fails_in_its_own_setting_exactly():
    # STRO Lemma 3.7 (eq. 3.19): r_k >= 1 - c with c of order delta^(3/2); here 1 - r_k ~ 1.27e-3 > c ~ 1.48e-4
    inst = _lemma37_witness()
    cert = get("stro.gaussian.lemma3.7").exact(inst)
    assert cert.violated
    assert cert.gap.lo > 8 * cert.bound.hi  # 1 - r_k exceeds the allowed deficit c more than 8 times
    assert not get("stro.gaussian.lemma3.7.corrected").exact(inst).violated


def test_stro_lemma37_family_matches_the_continuous_action_definitions():
    # independent of the claim's closed forms: Gauss-Hermite expectations over a ~ N(mu, sigma^2) of the
    # continuous-action MDP (P(1|0,a) = (1+cos a)/2 with reward 1, else stay at 0 with reward 0), the
    # surrogate L_k(mu) = eta_k + sum_s rho_k(s) E_{a~N(mu(s), sigma^2)} A_k(s, a) (unnormalized rho_k),
    # and the maximizer of (3.12) by a grid over the trust region
    inst = _lemma37_witness()
    x, wq = np.polynomial.hermite_e.hermegauss(80)
    wq = wq / wq.sum()
    g, d = 0.5, 1e-4

    def evaluate(m):
        p = np.sum(wq * (1 + np.cos(m + x)) / 2)  # P(0 -> 1) = E r(0, a)
        Pp = np.array([[1 - p, p], [1.0, 0.0]])
        V = np.linalg.solve(np.eye(2) - g * Pp, np.array([p, 0.0]))
        rho = np.linalg.solve(np.eye(2) - g * Pp.T, np.array([0.5, 0.5]))
        return V, rho, 0.5 * V.sum()

    V, rho, eta = evaluate(1.0)

    def L(m):
        q = (1 + np.cos(m + x)) / 2
        A0 = q * (1 + g * V[1]) + (1 - q) * g * V[0] - V[0]
        return eta + rho[0] * np.sum(wq * A0)

    R_ = np.sqrt(2 * d / rho[0])
    grid = np.linspace(1.0 - R_, 1.0 + R_, 2001)
    best = grid[np.argmax([L(m) for m in grid])]
    assert abs(best - (1.0 - R_)) < 1e-12  # the maximizer is the end the claim uses
    ratio = (evaluate(best)[2] - eta) / (L(best) - eta)
    cert = get("stro.gaussian.lemma3.7").exact(inst)
    lo_, hi_ = (float(v) for v in (cert.sides["ratio"].lo, cert.sides["ratio"].hi))
    assert lo_ - 1e-9 <= ratio <= hi_ + 1e-9


@pytest.mark.parametrize("x", [F(0), F(1, 3), F(-7, 2), F(22), F(355, 113)])
def test_cos_sin_enclose_the_true_value(x):
    c, s = R.cos_sin(x)
    for iv, v in ((c, math.cos(x)), (s, math.sin(x))):
        assert iv.lo - F(1, 10**15) <= F(v) <= iv.hi + F(1, 10**15) and iv.hi - iv.lo < F(1, 10**50)
    ci, si = R.cos_sin(R.Interval(x - F(1, 10**20), x + F(1, 10**20)))  # an interval argument widens by its radius
    assert ci.lo <= c.lo and c.hi <= ci.hi and ci.hi - ci.lo <= c.hi - c.lo + F(2, 10**20) + F(1, 10**90)
