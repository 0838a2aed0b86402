"""Option dataclasses of trustopt.blackbox (ESOptions, ARSOptions, TRESOptions, TrustRegionESOptions,
MinimizeOptions): the same trajectory through keywords, dicts and dataclasses; validation; defaults.

Every comparison is against a reference computed IN THE SAME RUN (the keyword or dict form of
the same settings), for exact equality of the iterate after 8 and 16 ask/tell rounds (every
coordinate, as float.hex), the best value, the final sigma, nfev, nit; for ``minimize``: x, fun,
xmean, sigma, nfev, nit, n_restarts, popsize, status. Nothing is pinned across machines: the
last bits of a trajectory depend on the CPU's BLAS and SIMD kernels (dot products, QR), which
trustopt does not control; on one machine, the same settings give the same bits.
"""

import dataclasses
import importlib
import inspect

import numpy as np
import pytest

from trustopt._validation import ValidationError
from trustopt import ARSOptions, ESOptions, TRESOptions, TrustRegionESOptions
from trustopt.asktell import ARS, ES, METHODS, TRES, TrustRegionCMA, TrustRegionES
from trustopt.optimize import MinimizeOptions, minimize

M = importlib.import_module("trustopt.asktell")
OPTION_CLASSES = {"ES": ESOptions, "ARS": ARSOptions, "TRES": TRESOptions, "TrustRegionES": TrustRegionESOptions}
RUN_KEYWORDS = {"popsize"}  # constructor keywords that are not hyperparameters
X0 = np.array([-0.5, 0.3, 0.8, -0.2])


def rosen(x):
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


def h(v):
    return float(v).hex()


def trajectory(opt, n=16):
    """The pinned quantities of ``n`` ask/tell rounds on Rosenbrock's function."""
    iterates = []
    for i in range(n):
        X = opt.ask()
        opt.tell(X, [rosen(x) for x in X])
        if i in (n // 2 - 1, n - 1):
            iterates.append(tuple(h(v) for v in opt.mean))
    return tuple(iterates), h(opt.best_f), h(opt.sigma()), opt.nfev, opt.nit


def split(kw):
    run = {k: v for k, v in kw.items() if k in RUN_KEYWORDS}
    hp = {k: v for k, v in kw.items() if k not in RUN_KEYWORDS}
    return run, hp


def minimize_run(method, options, maxfev):
    vectorized = options.get("vectorized") if isinstance(options, dict) else getattr(options, "vectorized", False)
    fun = (lambda X: np.array([rosen(x) for x in X])) if vectorized else rosen
    r = minimize(fun, X0, method=method, sigma0=0.3, maxfev=maxfev, seed=5, options=options)
    return (tuple(h(v) for v in r.x), h(r.fun), tuple(h(v) for v in r.xmean), h(r.sigma), r.nfev, r.nit,
            r.n_restarts, r.popsize, r.status)


def with_restart_x0(options):
    o = dict(options)
    if o.get("restart_x0") == "uniform":
        o["restart_x0"] = lambda rng: rng.uniform(-1, 1, 4)
    return o


ASKTELL_CASES = [
    ('ES', {}),
    ('ES', {'adapt': False, 'popsize': 10}),
    ('ES', {'lr': 3.0, 'optimizer': 'adam', 'shaping': 'none', 'beta0': 0.2, 'beta1': 0.6, 'gamma1': 1.5, 'gamma2': 0.9, 'gamma3': 0.4, 'use_std': True}),
    ('ES', {'adapt': False, 'lr': 0.002, 'optimizer': 'sgd', 'l2': 0.001, 'shaping': 'none'}),
    ('ARS', {}),
    ('ARS', {'adapt': False, 'popsize': 12}),
    ('ARS', {'alpha': 0.1, 'top_fraction': 0.25, 'gamma1': 3.0, 'popsize': 16}),
    ('ARS', {'adapt': False, 'alpha': 0.05, 'top_fraction': 1.0}),
    ('TRES', {}),
    ('TRES', {'adapt': False, 'popsize': 10}),
    ('TRES', {'lambda_': 5.0, 'K': 3, 'lr': 0.5, 'shaping': 'none', 'beta1': 0.7, 'use_std': True}),
    ('TRES', {'adapt': False, 'lambda_': 20.0, 'K': 2, 'lr': 2.0}),
    ('TrustRegionES', {}),
    ('TrustRegionES', {'model': 'linear'}),
    ('TrustRegionES', {'kappa': 2.0, 'tie_to_step': True, 'rotate': False, 'use_std': True, 'gamma3': 0.25}),
    ('TrustRegionES', {'model': 'linear', 'kappa': 0.5, 'beta0': 0.05, 'gamma2': 0.8, 'popsize': 6}),
]

MINIMIZE_CASES = [
    ('es', {'ftarget': 5.0}, 600),
    ('ars', {'popsize': 12, 'tolx': 1e-06}, 600),
    ('tres', {'K': 5, 'vectorized': True}, 600),
    ('trust-region-es', {}, 400),
    ('trust-region-es', {'restarts': 2, 'incpopsize': 3.0, 'model': 'linear', 'tolx': 0.05}, 900),
    ('trust-region-es', {'restarts': 3, 'restart_x0': 'uniform', 'tolx': 0.02, 'popsize': 11}, 1500),
    ('es', {'restarts': 2, 'adapt': False, 'maxiter': 30, 'lr': 0.05}, 900),
]


def _differs_from_the_defaults(name, kw):
    return kw != {} and trajectory(getattr(M, name)(X0, 0.3, seed=7)) != trajectory(getattr(M, name)(X0, 0.3, seed=7, **kw))


@pytest.mark.parametrize("name,kw", ASKTELL_CASES, ids=[f"{p[0]}-{i}" for i, p in enumerate(ASKTELL_CASES)])
def test_ask_tell_keywords_and_options_dataclass_give_the_same_trajectory(name, kw):
    cls = getattr(M, name)
    reference = trajectory(cls(X0, 0.3, seed=7, **kw))  # the keywords
    run, hp = split(kw)
    assert trajectory(cls(X0, 0.3, seed=7, options=OPTION_CLASSES[name](**hp), **run)) == reference
    assert trajectory(cls(X0, 0.3, seed=7, **kw)) == reference  # and the same process repeats it
    if kw:  # the case really sets something (the comparison can fail)
        assert _differs_from_the_defaults(name, kw)


@pytest.mark.parametrize("method,options,maxfev", MINIMIZE_CASES,
                         ids=[f"{p[0]}-{i}" for i, p in enumerate(MINIMIZE_CASES)])
def test_minimize_dict_options_dataclass_and_method_options_give_the_same_result(method, options, maxfev):
    reference = minimize_run(method, with_restart_x0(options), maxfev)  # a dict
    o = with_restart_x0(options)
    own = {f.name for f in dataclasses.fields(MinimizeOptions)}
    hp_cls = METHODS[method].options_class
    mo = MinimizeOptions(**{k: v for k, v in o.items() if k in own},
                         method_options=hp_cls(**{k: v for k, v in o.items() if k not in own}))
    assert minimize_run(method, mo, maxfev) == reference
    if not any(k in own for k in o):  # only method hyperparameters: the method's options alone will do
        assert minimize_run(method, hp_cls(**o), maxfev) == reference
    assert minimize_run(method, None, maxfev) != reference or not options  # the options are really used


# The mode- and dimension-dependent defaults written out: the same trajectory as leaving them None.
SPELLED_OUT = [
    (ES, {}, {"lr": 10.0, "optimizer": "sgd", "l2": 0.0}),
    (ES, {"adapt": False}, {"lr": 0.01, "optimizer": "adam", "l2": 0.005}),
    (ARS, {}, {"alpha": 0.3}),  # alpha = sigma0 in the adaptive mode
    (ARS, {"adapt": False}, {"alpha": 0.02}),
    (TRES, {}, {"lambda_": 14.0, "K": 15, "lr": 1.0, "shaping": "centered_ranks"}),
    (TrustRegionES, {}, {"rotate": True, "model": "quadratic", "kappa": 1.0}),  # d = 4 <= 256
]


@pytest.mark.parametrize("cls,base,explicit", SPELLED_OUT, ids=lambda v: getattr(v, "__name__", None))
def test_defaults_left_none_are_the_documented_values(cls, base, explicit):
    implicit = trajectory(cls(X0, 0.3, seed=7, **base))
    assert trajectory(cls(X0, 0.3, seed=7, **base, **explicit)) == implicit
    # and a different value changes the trajectory (the field is really used)
    changed = {k: (v * 2 if isinstance(v, float) else v) for k, v in explicit.items()}
    if "rotate" in changed:
        changed["rotate"] = False
    if "K" in changed:
        changed["K"] = 3
    assert trajectory(cls(X0, 0.3, seed=7, **base, **changed)) != implicit


def test_mode_defaults_are_the_class_tables():
    assert ESOptions().value("lr") == ESOptions.ADAPTIVE_DEFAULTS["lr"] == 10.0
    assert ESOptions(adapt=False).value("lr") == ESOptions.PAPER_DEFAULTS["lr"] == 0.01
    assert ESOptions(adapt=False).value("optimizer") == "adam" and ESOptions().value("optimizer") == "sgd"
    assert ESOptions(adapt=False, lr=0.5).value("lr") == 0.5  # an explicit value wins
    assert ARSOptions(adapt=False).value("alpha") == 0.02
    built = ES(X0, 0.3, seed=0, adapt=False).method.step
    assert (built.lr, built.optimizer, built.l2) == (0.01, "adam", 0.005)


def test_minimize_defaults_agree_with_the_ask_tell_defaults():
    """MinimizeOptions' stopping defaults are the ones the ask/tell classes use on their own."""
    sig = inspect.signature(M._Named.__init__).parameters
    d = MinimizeOptions()
    for name in ("tolx", "tolfun", "ftarget", "maxiter", "popsize", "noise"):
        assert getattr(d, name) == sig[name].default, name


@pytest.mark.parametrize("cls", [ESOptions, ARSOptions, TRESOptions, TrustRegionESOptions, MinimizeOptions])
def test_options_are_frozen_keyword_only_and_every_field_is_documented(cls):
    o = cls()
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.beta0 = 0.2
    with pytest.raises(TypeError):
        cls(0.2)
    doc = inspect.getdoc(cls) + "\n" + (inspect.getdoc(cls.__mro__[1]) or "")
    for f in dataclasses.fields(cls):
        assert f"{f.name}:" in doc or f" {f.name}," in doc, (cls.__name__, f.name)
    assert dataclasses.replace(o) == o


@pytest.mark.parametrize(
    "cls,kwargs,field",
    [
        (ESOptions, dict(lr=0.0), "lr"),
        (ESOptions, dict(lr=float("nan")), "lr"),
        (ESOptions, dict(optimizer="rmsprop"), "optimizer"),
        (ESOptions, dict(l2=-1e-3), "l2"),
        (ESOptions, dict(shaping="ranks"), "shaping"),
        (ESOptions, dict(adapt="yes"), "adapt"),
        (ESOptions, dict(beta0=0.0), "beta0"),
        (ESOptions, dict(beta1=0.05), "beta1"),
        (ESOptions, dict(gamma1=1.0), "gamma1"),
        (ESOptions, dict(gamma2=1.5), "gamma2"),
        (ESOptions, dict(gamma3=1.0), "gamma3"),
        (ESOptions, dict(use_std=1), "use_std"),
        (ESOptions, dict(adapt=False, gamma1=3.0), "gamma1"),  # adaptive-only field in paper mode
        (ESOptions, dict(adapt=False, use_std=True), "use_std"),
        (ARSOptions, dict(alpha=-0.1), "alpha"),
        (ARSOptions, dict(top_fraction=0.0), "top_fraction"),
        (ARSOptions, dict(top_fraction=1.5), "top_fraction"),
        (TRESOptions, dict(K=0), "K"),
        (TRESOptions, dict(K=2.0), "K"),
        (TRESOptions, dict(lambda_=0.0), "lambda_"),
        (TRESOptions, dict(lr=-1.0), "lr"),
        (TrustRegionESOptions, dict(model="cubic"), "model"),
        (TrustRegionESOptions, dict(kappa=0.0), "kappa"),
        (TrustRegionESOptions, dict(rotate="no"), "rotate"),
        (TrustRegionESOptions, dict(model="linear", rotate=False), "rotate"),
        (TrustRegionESOptions, dict(model="linear", tie_to_step=True), "tie_to_step"),
        (MinimizeOptions, dict(popsize=1), "popsize"),
        (MinimizeOptions, dict(restarts=-1), "restarts"),
        (MinimizeOptions, dict(incpopsize=0.0), "incpopsize"),
        (MinimizeOptions, dict(restart_x0=np.zeros(4)), "restart_x0"),
        (MinimizeOptions, dict(vectorized=1), "vectorized"),
        (MinimizeOptions, dict(noise="table"), "noise"),
        (MinimizeOptions, dict(ftarget=float("nan")), "ftarget"),
        (MinimizeOptions, dict(tolx=-1e-9), "tolx"),
        (MinimizeOptions, dict(tolx=True), "tolx"),
        (MinimizeOptions, dict(tolfun=-1.0), "tolfun"),
        (MinimizeOptions, dict(maxiter=-1), "maxiter"),
        (MinimizeOptions, dict(method_options={"lr": 1.0}), "method_options"),
    ],
)
def test_bad_field_is_rejected_naming_it(cls, kwargs, field):
    with pytest.raises(ValidationError, match=rf"^{field}:"):
        cls(**kwargs)
    if cls is not MinimizeOptions:  # the same check through the optimizer's keywords
        opt_cls = {ESOptions: ES, ARSOptions: ARS, TRESOptions: TRES, TrustRegionESOptions: TrustRegionES}[cls]
        with pytest.raises(ValidationError, match=rf"^{field}:"):
            opt_cls(X0, 0.3, seed=0, **kwargs)


@pytest.mark.parametrize("cls", [ES, ARS, TRES, TrustRegionES])
def test_unknown_keyword_is_named_and_the_valid_ones_listed(cls):
    valid = sorted(f.name for f in dataclasses.fields(cls.options_class))
    with pytest.raises(ValidationError) as e:
        cls(X0, 0.3, seed=0, step_size=0.1)
    msg = str(e.value)
    assert msg.startswith("step_size: unknown hyperparameter of " + cls.algorithm)  # the registry's name
    assert msg.endswith("valid: " + ", ".join(valid))


def test_trust_region_es_has_no_adapt():
    """The method is always adaptive, so ``adapt`` is an unknown keyword, not one silently ignored."""
    with pytest.raises(ValidationError, match="^adapt: unknown hyperparameter of trust-region-es"):
        TrustRegionES(X0, 0.3, seed=0, adapt=False)


def test_options_and_keywords_are_exclusive_and_typed():
    with pytest.raises(ValidationError, match="^options: .*not both"):
        ES(X0, 0.3, seed=0, options=ESOptions(), lr=1.0)
    with pytest.raises(ValidationError, match="^options: es takes ESOptions, got TRESOptions"):
        ES(X0, 0.3, seed=0, options=TRESOptions())
    opt = TRES(X0, 0.3, seed=0, options=TRESOptions(K=4), popsize=8)  # run keywords go along with options
    assert opt.options.K == 4 and opt.method.step.K == 4 and opt.popsize == 8


def test_minimize_options_routes():
    base = dict(sigma0=0.3, maxfev=300, seed=2)
    with pytest.raises(ValidationError, match="^options: unknown keys lambda_, step for method 'trust-region-cma'"):
        minimize(rosen, X0, options={"lambda_": 2.0, "step": 1}, **base)
    with pytest.raises(ValidationError, match="valid: disp, ftarget, incpopsize, .*, maxfev, .* kl_radius, orthogonal"):
        minimize(rosen, X0, options={"lambda_": 2.0}, **base)
    with pytest.raises(ValidationError, match="^maxiter: expected an integer >= 1, got 0"):  # as maxfev
        minimize(rosen, X0, options={"maxiter": 0}, **base)
    assert minimize(rosen, X0, options={"maxiter": 3.0}, **base).nit == 3  # an integral float, as maxfev=1e4
    with pytest.raises(ValidationError, match=r"^verbose: expected an integer k >= 0, a line every k batches, got True "
                                              r"\(verbose=1: every batch; disp=True: every 100, as scipy's disp\)$"):
        minimize(rosen, X0, options={"verbose": True}, **base)
    with pytest.raises(ValidationError, match="^maxiter: expected an integer >= 1, got 0"):  # and in ask/tell
        TrustRegionCMA(X0, 0.3, maxiter=0)
    # scipy's and pycma's names of the options, and minimize's arguments put into options
    for key, hint in (("maxfevals", "; the closest here to pycma's maxfevals is maxfev;"),
                      ("maxfun", "; the closest here to scipy's maxfun is maxfev;"),
                      ("ftol", "; the closest here to scipy's ftol is tolfun;"), ("maxfeval", r" \(did you mean 'maxfev'\?\);"),
                      ("seed", r"; seed is an argument of minimize: minimize\(fun, x0, ..., seed=...\);"),
                      ("tolfunhist", "; pycma's tolfunhist test is always on here")):
        with pytest.raises(ValidationError, match=f"^options: unknown key {key} for method 'trust-region-cma'{hint}"):
            minimize(rosen, X0, options={key: 1}, **base)
    with pytest.raises(ValidationError, match=r"^options: unknown key restart for method 'trust-region-cma' "
                                              r"\(did you mean 'restarts'\?\); valid"):
        minimize(rosen, X0, options={"restart": 2}, **base)
    with pytest.raises(ValidationError, match="^options: method 'tres' takes method_options of type TRESOptions"):
        minimize(rosen, X0, method="tres", options=MinimizeOptions(method_options=ESOptions()), **base)
    with pytest.raises(ValidationError, match="^options: method 'tres' takes None, a dict, .*TRESOptions, got ESOptions "
                                              r"\(the options of method='es': pass that method\)"):
        minimize(rosen, X0, method="tres", options=ESOptions(), **base)
    with pytest.raises(ValidationError, match="^K:"):
        minimize(rosen, X0, method="tres", options={"K": 0}, **base)
    # the same run through the four routes
    r_dict = minimize(rosen, X0, method="tres", options={"K": 4, "popsize": 10}, **base)
    r_mo = minimize(rosen, X0, method="tres", options=MinimizeOptions(popsize=10, method_options=TRESOptions(K=4)), **base)
    assert np.array_equal(r_dict.x, r_mo.x) and r_dict.fun == r_mo.fun and r_dict.nfev == r_mo.nfev
    r_none = minimize(rosen, X0, method="tres", options=None, **base)
    r_default = minimize(rosen, X0, method="tres", options=TRESOptions(), **base)
    r_empty = minimize(rosen, X0, method="tres", options=MinimizeOptions(), **base)
    assert np.array_equal(r_none.x, r_default.x) and np.array_equal(r_none.x, r_empty.x)
    assert not np.array_equal(r_none.x, r_dict.x)


def test_ask_tell_takes_options_as_a_dict_and_budgets_as_integral_floats():
    """As minimize does: options={'K': 4} is TRESOptions(K=4); maxfev=1e3 is 1000. pycma's habit of
    putting popsize in the options dict names the constructor keyword instead."""
    opt = TRES(X0, 0.3, seed=0, options={"K": 4}, maxfev=1e3, maxiter=50.0)
    assert opt.options.K == opt.method.step.K == 4 and (opt.maxfev, opt.maxiter) == (1000, 50)
    with pytest.raises(ValidationError, match=r"^options: popsize is a keyword of TRES, not a hyperparameter"):
        TRES(X0, 0.3, options={"popsize": 10})
    # pycma's CMAEvolutionStrategy(x0, sigma0, inopts): the options are the third argument
    assert TRES(X0, 0.3, {"K": 4}, seed=0).options.K == 4
    with pytest.raises(ValidationError, match=r"^options: popsize is a keyword of TrustRegionCMA, not a hyperparameter: "
                                              r"TrustRegionCMA\(x0, sigma0, popsize=...\)$"):
        TrustRegionCMA(X0, 0.3, {"popsize": 10})
    with pytest.raises(ValidationError, match="^maxfevals: unknown hyperparameter of trust-region-cma; pycma's "
                                              "maxfevals is maxfev here, a keyword argument \\(maxfev=...\\), not an option; valid: "):
        TrustRegionCMA(X0, 0.3, {"maxfevals": 100})
    with pytest.raises(ValidationError, match="^options: give either options=.* or keyword hyperparameters"):
        TRES(X0, 0.3, options={"K": 4}, lambda_=2.0)
    with pytest.raises(ValidationError, match="^maxfev: expected an integer >= 1, got 1.5"):
        TRES(X0, 0.3, maxfev=1.5)


def test_sigma_cannot_be_assigned_over_the_method():
    """pycma users write es.sigma = ...; here sigma() is the sampler's rule, and the assignment
    would shadow it and break the next ask(): an AttributeError saying so, the optimizer intact."""
    opt = TRES(X0, 0.3, seed=0)
    with pytest.raises(AttributeError, match=r"^sigma: read-only, opt.sigma\(\) is the step size TRES's rule sets"):
        opt.sigma = 0.1
    assert opt.sigma() == 0.3 and opt.ask().shape[1] == X0.size


def test_noise_is_not_noise_handling():
    """pycma's users write noise=True for a noisy objective: here noise is the perturbation table, and
    the refusal names noise_handling=True, which is pycma's noise handling (tests/test_uncertainty.py)."""
    import trustopt

    f = lambda x: float(x @ x)  # noqa: E731
    for call in (lambda: trustopt.TrustRegionCMA(np.ones(3), 1.0, noise=True),
                 lambda: trustopt.ES(np.ones(3), 1.0, noise=True),
                 lambda: trustopt.minimize(f, np.ones(3), seed=0, options={"noise": True}),
                 lambda: trustopt.minimize(f, np.ones(3), seed=0, options={"uncertainty_handling": True})):
        with pytest.raises(ValidationError, match="pycma's noise handling is noise_handling=True here"):
            call()
    assert trustopt.minimize(f, np.ones(3), seed=0, options={"noise_handling": True}).success
