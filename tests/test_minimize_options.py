"""Option dataclasses of trustopt.blackbox (ESOptions, ARSOptions, TRESOptions, TrustRegionESOptions,
MinimizeOptions): same bits as the dict-of-keywords code they replaced, validation, defaults.

The pins below were recorded by running the code BEFORE the option dataclasses existed
(trustopt/minimize.py at commit 6d933e5, hyperparameters popped from a dict with in-method
defaults) on this machine (x86-64, NumPy/OpenBLAS of .venv, OPENBLAS_NUM_THREADS=1): the
iterate after 8 and 16 ask/tell rounds (every coordinate, as float.hex), the best value, the
final sigma, nfev, nit; for ``minimize``: x, fun, xmean, sigma, nfev, nit, n_restarts, popsize,
status. They are compared for exact equality, through the keywords and through the
dataclasses. A different BLAS or CPU may change last bits of the orthogonalized directions or
of dot products; if only such a platform change breaks these pins, re-record them from the
old commit on that platform rather than loosening the comparison.
"""

import dataclasses
import importlib
import inspect

import numpy as np
import pytest

from trustopt._validation import ValidationError
from trustopt.blackbox import (ARS, ES, METHODS, TRES, ARSOptions, ESOptions, MinimizeOptions, TRESOptions,
                               TrustRegionES, TrustRegionESOptions, minimize)

M = importlib.import_module("trustopt.blackbox")
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
    r = minimize(fun, X0, method, sigma0=0.3, maxfev=maxfev, seed=5, options=options)
    return (tuple(h(v) for v in r.x), h(r.fun), tuple(h(v) for v in r.xmean), h(r.sigma), r.nfev, r.nit,
            r.n_restarts, r.popsize, r.status)


def with_restart_x0(options):
    o = dict(options)
    if o.get("restart_x0") == "uniform":
        o["restart_x0"] = lambda rng: rng.uniform(-1, 1, 4)
    return o


ASKTELL_PINS = [
    ('ES', {},
     ((('-0x1.138fbb9b6db70p-3', '0x1.cdc0dfcf15f18p-4', '-0x1.3da68df8af894p-5', '-0x1.5cfebafc57c61p-4'),
       ('-0x1.2a72ad2edb6e0p-5', '0x1.84dd6d419999ep-5', '-0x1.91c2021f15ee0p-6', '-0x1.dd2b701d41d52p-5')),
      '0x1.874228ffe5df3p+1', '0x1.3333333333333p-5', 128, 10)),
    ('ES', {'adapt': False, 'popsize': 10},
     ((('-0x1.eea7981586881p-2', '0x1.201904431e5b8p-2', '0x1.7180398c314d1p-1', '-0x1.08c8f1f5949c3p-3'),
       ('-0x1.01c5df2abc3dap-1', '0x1.24d1442eebdb4p-2', '0x1.485f187f2eae8p-1', '-0x1.1c8f0b508a3d0p-4')),
      '0x1.5cfbaec975710p+2', '0x1.3333333333333p-2', 160, 16)),
    ('ES', {'lr': 3.0, 'optimizer': 'adam', 'shaping': 'none', 'beta0': 0.2, 'beta1': 0.6, 'gamma1': 1.5,
            'gamma2': 0.9, 'gamma3': 0.4, 'use_std': True},
     ((('-0x1.3f191d1ae9dd4p-3', '0x1.02a484a75c3c4p-4', '0x1.094eda3e61530p-2', '0x1.10edf437727e7p-2'),
       ('-0x1.4b77bf6e70daep-3', '0x1.c7962e58e4dc8p-5', '0x1.7b992503634d6p-3', '0x1.102bc6dbdac01p-2')),
      '0x1.0e49a219ffad4p+3', '0x1.31c3c76a8d3cap-7', 128, 12)),
    ('ES', {'adapt': False, 'lr': 0.002, 'optimizer': 'sgd', 'l2': 0.001, 'shaping': 'none'},
     ((('-0x1.de2594b75fa29p-4', '0x1.351faf28f0475p-5', '0x1.60e84c91a33d2p-3', '0x1.dcc0dde9dc74ep-3'),
       ('0x1.a67153296885ep-4', '0x1.e34782cdfe639p-3', '0x1.1ecf36f2f5a80p-3', '0x1.5889f77e3c27ep-5')),
      '0x1.0331318953922p+2', '0x1.3333333333333p-2', 128, 16)),
    ('ARS', {},
     ((('0x1.c828edaa02edep-3', '0x1.d46513fd33310p-5', '0x1.462c259f3af61p-2', '0x1.9c77e149ef88fp-4'),
       ('0x1.31dd081c7210ap-5', '-0x1.cde32fcab1e01p-6', '-0x1.ef9dadadb8e14p-6', '-0x1.d39e8835937d2p-5')),
      '0x1.7d2c48a70a9c2p+1', '0x1.3333333333333p-5', 128, 11)),
    ('ARS', {'adapt': False, 'popsize': 12},
     ((('-0x1.0e067fe63998ep-1', '0x1.2686a3236a5bep-2', '0x1.06ad3f098fbd5p-1', '-0x1.8f54e09437dbcp-4'),
       ('-0x1.e9d1dfe438044p-2', '0x1.4ae5d39dbb98cp-2', '0x1.3d58fb44b87dfp-2', '-0x1.013f1824a90bap-8')),
      '0x1.f7461bf03c020p+1', '0x1.3333333333333p-2', 192, 16)),
    ('ARS', {'alpha': 0.1, 'top_fraction': 0.25, 'gamma1': 3.0, 'popsize': 16},
     ((('0x1.456a23a469e87p-3', '0x1.a9b786e559ddep-3', '0x1.049802dd475abp-2', '0x1.212620f054fe0p-3'),
       ('0x1.0604954099e21p-2', '0x1.11912ac5c0c22p-3', '0x1.84b529174e090p-4', '0x1.7bc4432a3511ap-4')),
      '0x1.60742b29c6378p+1', '0x1.5999999999999p-4', 256, 10)),
    ('ARS', {'adapt': False, 'alpha': 0.05, 'top_fraction': 1.0},
     ((('-0x1.0287531c4022cp-1', '0x1.022cfc562e2cdp-2', '0x1.2bf8240113a47p-2', '0x1.5a44bc814018cp-5'),
       ('-0x1.1fffc7f4e8c17p-2', '0x1.00a66866c4089p-2', '0x1.63a6f9ff9fa30p-4', '0x1.7410366c4d948p-4')),
      '0x1.0d79f7836904dp+2', '0x1.3333333333333p-2', 128, 16)),
    ('TRES', {},
     ((('-0x1.2d91fbd22bb66p-3', '-0x1.3a76e71aaa152p-5', '0x1.d75e60ce910d1p-3', '0x1.d09aa33026968p-4'),
       ('-0x1.2aa2a144652ecp-3', '0x1.7c2f39154c5bbp-6', '0x1.6c2e495059f78p-6', '-0x1.a256e16027f31p-6')),
      '0x1.9d0f02c0d1d45p+1', '0x1.3333333333333p-6', 128, 11)),
    ('TRES', {'adapt': False, 'popsize': 10},
     ((('-0x1.7a4ea7b0c4407p-4', '-0x1.fb9cc0c277b9dp-4', '0x1.0dc3e84c2e477p-2', '-0x1.d344c989a4453p-7'),
       ('0x1.f7ec36b829e20p-2', '0x1.8bf2d00a0b748p-3', '0x1.969216b47aef8p-2', '0x1.e6416909096d7p-3')),
      '0x1.9de8bacc13dccp+1', '0x1.3333333333333p-2', 160, 16)),
    ('TRES', {'lambda_': 5.0, 'K': 3, 'lr': 0.5, 'shaping': 'none', 'beta1': 0.7, 'use_std': True},
     ((('-0x1.147a9bb907d41p-1', '0x1.7b46653f6991dp-2', '0x1.6a66fd8b410dbp-5', '0x1.0ce099b2c974ap-1'),
       ('-0x1.16f73b858aa3ap-1', '0x1.30b3ed76b6412p-2', '0x1.512f8af56cbbdp-4', '0x1.e11d9d21a1088p-4')),
      '0x1.e688a9e04ffbap+1', '0x1.3333333333333p-5', 128, 11)),
    ('TRES', {'adapt': False, 'lambda_': 20.0, 'K': 2, 'lr': 2.0},
     ((('0x1.4a062164af271p-4', '0x1.a49dd3aebac9cp-5', '0x1.58763fcf6cb6ep-4', '0x1.52e761a83dffcp-5'),
       ('0x1.3620295bf5e90p-2', '0x1.2bddb477c6ecap-2', '0x1.ff102773f604ep-3', '0x1.2232d0592781dp-5')),
      '0x1.19835dceda93ep+2', '0x1.3333333333333p-2', 128, 16)),
    ('TrustRegionES', {},
     ((('-0x1.ef7b1517c8fa0p-3', '0x1.7ea9153981eb0p-4', '0x1.7b736c3b73668p-10', '0x1.75189e47623aep-6'),
       ('0x1.6e61ecc2b719dp-4', '0x1.3c829e86b8fe0p-9', '0x1.9de03b3017abbp-6', '-0x1.6b810c6c8d2d3p-7')),
      '0x1.6d72a5fa00842p+1', '0x1.3333333333333p-4', 144, 13)),
    ('TrustRegionES', {'model': 'linear'},
     ((('0x1.9f782749836c0p-9', '-0x1.e47565b508d30p-6', '0x1.0a316c007b900p-3', '0x1.38a8b2c557e10p-2'),
       ('0x1.0c82f66e69980p-5', '0x1.64339ab3a3e49p-5', '0x1.7a4d1554503c2p-5', '-0x1.15d1282435800p-13')),
      '0x1.82aa375691eb8p+1', '0x1.3333333333333p-5', 128, 11)),
    ('TrustRegionES', {'kappa': 2.0, 'tie_to_step': True, 'rotate': False, 'use_std': True, 'gamma3': 0.25},
     ((('-0x1.1c1b5297bfe7ap-2', '0x1.a9cfe517d4f56p-4', '0x1.fd3afd61cf8e4p-7', '0x1.22114dbdcff5fp-6'),
       ('-0x1.cb9e82f31c55ap-3', '0x1.f5284fe90b6e3p-5', '0x1.d595c10896bf8p-7', '-0x1.691c59745f1acp-7')),
      '0x1.94a775ae499c0p+1', '0x1.3333333333333p-6', 144, 13)),
    ('TrustRegionES', {'model': 'linear', 'kappa': 0.5, 'beta0': 0.05, 'gamma2': 0.8, 'popsize': 6},
     ((('0x1.f69801f68d3d0p-2', '0x1.514a2fc4e8355p-3', '0x1.4bf6887f32b2cp-3', '-0x1.3f6affa64b560p-4'),
       ('0x1.93f742c1319c9p-2', '0x1.43adea2c4cc88p-3', '0x1.a5e20d5d1b5a0p-5', '0x1.e1c4f2dfc3cdap-6')),
      '0x1.09a69c17881d2p+1', '0x1.f75104d551d6ap-8', 96, 10)),
]

MINIMIZE_PINS = [
    ('es', {'ftarget': 1e-06}, 600,
     (('-0x1.a871c80d56578p-2', '0x1.7b331f7fcc579p-3', '0x1.75b21ae954d9fp-5', '0x1.20eb8dc3a1668p-9'),
      '0x1.cd9abd9efa0c4p+1',
      ('-0x1.a9b3ea7623245p-2', '0x1.7bc4c4fdff8acp-3', '0x1.75755f42a1a6cp-5', '0x1.82666520dc66ap-10'),
      '0x1.3333333333333p-11', 600, 56, 0, 8, 1)),
    ('ars', {'popsize': 8, 'tolx': 1e-06}, 600,
     (('0x1.2cdcd300af228p-1', '0x1.58e93b286eb9fp-2', '0x1.c675d78045ce5p-4', '0x1.8b55676897da9p-7'),
      '0x1.68773c5861c44p+0',
      ('0x1.2a6fe7d35f504p-1', '0x1.5ecd8c8f7cc47p-2', '0x1.b93945eaa27c3p-4', '0x1.1a62d436a6448p-7'),
      '0x1.3333333333333p-6', 600, 58, 0, 8, 1)),
    ('tres', {'K': 5, 'vectorized': True}, 600,
     (('0x1.32393965e1591p-3', '0x1.4cd3694b687c4p-6', '0x1.a845c01b61385p-7', '0x1.d1e6dbe05f5eep-7'),
      '0x1.58bc1274cd2cap+1',
      ('0x1.09f4ec4c47bf7p-3', '0x1.95a628650215ep-6', '0x1.9916d66e946b8p-7', '0x1.4c15bc4e4a484p-9'),
      '0x1.3333333333333p-7', 600, 51, 0, 8, 1)),
    ('trust-region-es', {}, 400,
     (('0x1.c7d4c27855a5ep-1', '0x1.9896465e4d3ccp-1', '0x1.466ba09b43582p-1', '0x1.a7133b487a227p-2'),
      '0x1.888576637dea2p-3',
      ('0x1.c7d4c27855a5ep-1', '0x1.9896465e4d3ccp-1', '0x1.466ba09b43582p-1', '0x1.a7133b487a227p-2'),
      '0x1.3333333333333p-5', 396, 36, 0, 9, 1)),
    ('trust-region-es', {'restarts': 2, 'incpopsize': 3.0, 'model': 'linear', 'tolx': 0.05}, 900,
     (('-0x1.15ec77ab12bb2p-2', '0x1.6f6705607bb56p-4', '0x1.6be8231456442p-6', '-0x1.096ef01dbc2a3p-7'),
      '0x1.ba28a9244bcf0p+1',
      ('-0x1.d8e889b9bf301p-2', '0x1.568649ac44dc3p-2', '0x1.be58dd4793ed0p-3', '-0x1.0525eebaaa07cp-4'),
      '0x1.3333333333333p-3', 888, 24, 2, 72, 1)),
    ('trust-region-es', {'restarts': 3, 'restart_x0': 'uniform', 'tolx': 0.02, 'popsize': 11}, 1500,
     (('0x1.b4188081cd39cp-1', '0x1.6f47b8c51e13ep-1', '0x1.0bc2307a3d6cap-1', '0x1.1af79b0956ff4p-2'),
      '0x1.602340e3d32c7p-2',
      ('0x1.b4188081cd39cp-1', '0x1.6f47b8c51e13ep-1', '0x1.0bc2307a3d6cap-1', '0x1.1af79b0956ff4p-2'),
      '0x1.3333333333333p-4', 1498, 70, 1, 23, 1)),
    ('es', {'restarts': 2, 'adapt': False, 'maxiter': 30, 'lr': 0.05}, 900,
     (('0x1.a05f410eb0cfcp-1', '0x1.655fea0771054p-1', '0x1.87c09eff21176p-2', '0x1.00dbd61dac852p-2'),
      '0x1.69fc2cede4f9ep+1',
      ('0x1.686e814669a20p-10', '0x1.64c59b8a66170p-8', '0x1.578a31744a561p-5', '0x1.65a62fdce71b6p-5'),
      '0x1.3333333333333p-2', 240, 30, 0, 8, 1)),
]


@pytest.mark.parametrize("name,kw,pinned", ASKTELL_PINS, ids=[f"{p[0]}-{i}" for i, p in enumerate(ASKTELL_PINS)])
def test_ask_tell_trajectories_are_bit_identical_to_the_dict_code(name, kw, pinned):
    cls = getattr(M, name)
    assert trajectory(cls(X0, 0.3, seed=7, **kw)) == pinned  # the keywords, as before
    run, hp = split(kw)
    options = OPTION_CLASSES[name](**hp)
    assert trajectory(cls(X0, 0.3, seed=7, options=options, **run)) == pinned  # the dataclass


@pytest.mark.parametrize("method,options,maxfev,pinned", MINIMIZE_PINS,
                         ids=[f"{p[0]}-{i}" for i, p in enumerate(MINIMIZE_PINS)])
def test_minimize_results_are_bit_identical_to_the_dict_code(method, options, maxfev, pinned):
    assert minimize_run(method, with_restart_x0(options), maxfev) == pinned  # a dict, as before
    o = with_restart_x0(options)
    own = {f.name for f in dataclasses.fields(MinimizeOptions)}
    hp_cls = METHODS[method].options_class
    mo = MinimizeOptions(**{k: v for k, v in o.items() if k in own},
                         method_options=hp_cls(**{k: v for k, v in o.items() if k not in own}))
    assert minimize_run(method, mo, maxfev) == pinned
    if not any(k in own for k in o):  # only method hyperparameters: the method's options alone will do
        assert minimize_run(method, hp_cls(**o), maxfev) == pinned


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
    sig = inspect.signature(M._ESBase.__init__).parameters
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
        (MinimizeOptions, dict(tolx=0.0), "tolx"),
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
    assert msg.startswith("step_size: unknown hyperparameter of " + cls.__name__)
    assert msg.endswith("valid: " + ", ".join(valid))


def test_trust_region_es_has_no_adapt():
    """It was accepted and ignored; it is now an unknown keyword (the method is always adaptive)."""
    with pytest.raises(ValidationError, match="^adapt: unknown hyperparameter of TrustRegionES"):
        TrustRegionES(X0, 0.3, seed=0, adapt=False)


def test_options_and_keywords_are_exclusive_and_typed():
    with pytest.raises(ValidationError, match="^options: .*not both"):
        ES(X0, 0.3, seed=0, options=ESOptions(), lr=1.0)
    with pytest.raises(ValidationError, match="^options: ES takes ESOptions, got TRESOptions"):
        ES(X0, 0.3, seed=0, options=TRESOptions())
    opt = TRES(X0, 0.3, seed=0, options=TRESOptions(K=4), popsize=8)  # run keywords go along with options
    assert opt.options.K == 4 and opt.method.step.K == 4 and opt.popsize == 8


def test_minimize_options_routes():
    base = dict(sigma0=0.3, maxfev=300, seed=2)
    with pytest.raises(ValidationError, match="^options: unknown keys lambda_, step for method 'trust-region-es'"):
        minimize(rosen, X0, options={"lambda_": 2.0, "step": 1}, **base)
    with pytest.raises(ValidationError, match="valid: ftarget, incpopsize, .* kappa, model"):
        minimize(rosen, X0, options={"lambda_": 2.0}, **base)
    with pytest.raises(ValidationError, match="^options: method 'tres' takes method_options of type TRESOptions"):
        minimize(rosen, X0, "tres", options=MinimizeOptions(method_options=ESOptions()), **base)
    with pytest.raises(ValidationError, match="^options: method 'tres' takes None, a dict, .*TRESOptions, got ESOptions "
                                              r"\(the options of method='es': pass that method\)"):
        minimize(rosen, X0, "tres", options=ESOptions(), **base)
    with pytest.raises(ValidationError, match="^K:"):
        minimize(rosen, X0, "tres", options={"K": 0}, **base)
    # the same run through the four routes
    r_dict = minimize(rosen, X0, "tres", options={"K": 4, "popsize": 10}, **base)
    r_mo = minimize(rosen, X0, "tres", options=MinimizeOptions(popsize=10, method_options=TRESOptions(K=4)), **base)
    assert np.array_equal(r_dict.x, r_mo.x) and r_dict.fun == r_mo.fun and r_dict.nfev == r_mo.nfev
    r_none = minimize(rosen, X0, "tres", options=None, **base)
    r_default = minimize(rosen, X0, "tres", options=TRESOptions(), **base)
    r_empty = minimize(rosen, X0, "tres", options=MinimizeOptions(), **base)
    assert np.array_equal(r_none.x, r_default.x) and np.array_equal(r_none.x, r_empty.x)
    assert not np.array_equal(r_none.x, r_dict.x)
