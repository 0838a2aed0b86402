"""The black-box API as scipy's and pycma's users reach for it: bounds, integer variables, ``args``,
a callback, worker processes, a noisy objective with a log file, an ask/tell loop that repairs its
points, and the plots (the README's second black-box example; its output is in the README).

    .venv/bin/python examples/blackbox_tour.py      # writes noisy.csv, asktell.png, noisy.png here
"""

import numpy as np, trustopt
from scipy.optimize import Bounds

def f(x, c):                                       # args=(c,) as in scipy
    return float(np.sum(c * (x - 1.5) ** 2))

c = np.logspace(0, 3, 6)
f_min = f(np.ones(6), c)                           # the optimum lies on the bound x = 1
res = trustopt.minimize(f, np.zeros(6), args=(c,), bounds=Bounds(-1, 1), seed=1,
                        callback=lambda intermediate_result: intermediate_result.fun <= f_min + 1e-9,
                        options={"integrality": [True, True, False, False, False, False]})
print(res.x.round(6), res.nfev, res.message)       # [1. 1. 1. 1. 1. 1.] ~1300 stopped by the callback: ...

noisy = lambda x: float(np.sum(x ** 2) + 0.1 * np.random.default_rng().normal())
res = trustopt.minimize(noisy, np.ones(8), seed=2, workers=2, options={"noise_handling": True, "log": "noisy.csv"})
print(np.linalg.norm(res.xmean), res.message)      # 0.1-0.3, the noise's scale (unseeded); tolstagnation: ...

opt = trustopt.TrustRegionCMA(np.zeros(6), seed=1, bounds=[(-1, 1)] * 6)  # sigma0: a quarter of the width
while not opt.stop():
    X = opt.ask()
    X_grid = np.round(X, 2)                                                 # the caller's own repair
    opt.tell(X_grid, [f(x, c) for x in X_grid], repaired=True)
print(opt.result.x, opt.result.message)            # [1. 1. 1. 1. 1. 1.] tolflatfitness: ...
trustopt.plot_minimize(opt, "asktell.png"); trustopt.plot_minimize("noisy.csv", "noisy.png")
