"""trustopt: verified stochastic trust-region policy search.

Entry points (imported lazily, so ``import trustopt`` stays cheap):

    trustopt.run(algorithm, problem, *, max_iter, seed, exact=False, callback=None, **hp)
        any registered algorithm (vpg npg trpo ppo trefree stro es ars tres ...) on a
        tabular MDP, an LQR, or a MuJoCo environment
    trustopt.minimize(fun, x0, args=(), method=None, *, bounds=None, sigma0=None, maxfev=None,
                      seed=None, callback=None, workers=1, options=None)
        black-box minimization with scipy's conventions, returns scipy.optimize.OptimizeResult;
        trustopt.plot_minimize(result or log path) draws the run
    trustopt.TrustRegionCMA (minimize's default method) / TrustRegionES / ES / ARS / TRES
        ask/tell optimizers, with their options dataclasses trustopt.TrustRegionCMAOptions /
        TrustRegionESOptions / ESOptions / ARSOptions / TRESOptions (trustopt.algorithms) and trustopt.MinimizeOptions
        (trustopt.optimize; ``trustopt.minimize`` is always the function)

    trustopt.BoundsWarning: the warning for an x0 outside the bounds or a sigma0 wider than them

    trustopt.load_policy(run) -> (policy, env_id, arrays); policy.predict(obs, deterministic=True)
    trustopt.load_env(run) -> the run's Gymnasium environment (its env_kwargs and episode limit)

Submodules:
    tabular     exact oracle for finite MDPs
    smoothing   exact oracle for product search distributions (TRES)
    lqr         exact oracle for discounted LQR with linear Gaussian policies
    testing     hypothesis strategies and random instance generators
    core, components, algorithms   the trust-region loop and its parts
    envs        MuJoCo environments (the only module importing gymnasium)
    workers, workers_ray   rollout backends (local processes; Ray, optional)
    train       the training driver behind ``trustopt train``
"""

from importlib import import_module

__version__ = "0.2.0"

_LAZY = {
    "ValidationError": "trustopt._validation",
    "PROBABILITY_TOLERANCE": "trustopt._validation",
    "run": "trustopt.api",
    "minimize": "trustopt.optimize",
    "MinimizeOptions": "trustopt.optimize",
    "plot_minimize": "trustopt.optimize",
    "load_policy": "trustopt.train",
    "load_env": "trustopt.train",
    "AskTell": "trustopt.asktell",
    "BoundsWarning": "trustopt.asktell",
    **{name: "trustopt.asktell" for name in ("ES", "ARS", "TRES", "TrustRegionES", "TrustRegionCMA")},
    "ESOptions": "trustopt.algorithms.es",
    "ARSOptions": "trustopt.algorithms.ars",
    "TRESOptions": "trustopt.algorithms.tres",
    "TrustRegionESOptions": "trustopt.algorithms.trust_region_es",
    "TrustRegionCMAOptions": "trustopt.algorithms.trust_region_cma",
}
_SUBMODULES = {"asktell", "optimize", "tabular", "smoothing", "lqr", "testing", "core", "components", "algorithms",
               "estimators", "linalg", "policies", "noise", "envs", "workers", "workers_ray", "train"}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        value = import_module(f"trustopt.{name}")
    else:
        raise AttributeError(f"module 'trustopt' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)
