"""The package's import structure, as DESIGN.md "Layers" states it (imports point down only).

Every module of ``trustopt/`` (and of ``proofs_check/``, the user-facing checker on top) is
parsed with :mod:`ast`; every ``import``/``from ... import`` statement counts, at module level,
inside functions (lazy imports) and under ``if TYPE_CHECKING:`` alike, because each one is a
dependency of the design even when it is not executed at import time. ``from . import x`` and
``from .mod import y`` are resolved against the importing module; ``from pkg import name``
is an edge to the submodule ``pkg.name`` when that is a module, otherwise to ``pkg``.
Importing ``a.b.c`` is an edge to ``a.b.c`` only, not to the parent packages Python runs first.

Checked:
(a) no import circle between trustopt modules (a strongly connected component of the import
    graph with more than one module; the message shows one cycle with file and line);
(b) no module imports a module of a higher layer (:data:`LAYERS`);
(c) gymnasium and mujoco are imported only under ``trustopt.envs`` (plus the documented lazy
    imports of :data:`LAZY_SIMULATOR_IMPORTS`);
(d) numba is imported in one module, ``trustopt._numba``;
(e) ``proofs_check`` imports only the public API (no module or name starting with ``_``).
"""

from __future__ import annotations

import ast
import pathlib
from dataclasses import dataclass

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: Module prefix -> layer (0 = bottom). A module may import modules of its own layer or below.
#: The longest matching prefix wins; the bare package ``trustopt`` matches only itself, so a new
#: module that no entry covers fails :func:`test_every_module_has_a_layer` instead of
#: silently joining the top layer.
LAYERS = {
    # 0 -- infrastructure: stdlib/NumPy only, no trustopt module above them.
    "trustopt._validation": 0,   # ValidationError and the argument checks every layer uses at its boundary
    "trustopt._io": 0,           # atomic writes and run folders; used by estimators (normalizer state), train, cli
    "trustopt._numba": 0,        # the one numba import (njit); the kernels in estimators/envs sit above it
    "trustopt._callbacks": 0,    # the callback(intermediate_result) adapter shared by run, minimize, train
    "trustopt._blas": 0,         # one BLAS thread for small dense linear algebra (threadpoolctl); imports no trustopt
    "trustopt._backends": 0,     # the worker-backend protocol and chunking shared by workers/workers_ray; imports
                                 # only _validation, so any layer handed a backend can name its protocol
    # 1 -- exact oracles: they never import what they are used to check.
    "trustopt.tabular": 1,
    "trustopt.smoothing": 1,
    "trustopt.lqr": 1,
    "trustopt.testing": 1,       # random instances of the oracles for hypothesis; at the oracles' layer so that
                                 # test inputs never depend on the code under test
    # 2 -- building blocks.
    "trustopt.estimators": 2,
    "trustopt.linalg": 2,
    "trustopt.policies": 2,
    "trustopt.noise": 2,         # the shared Gaussian noise table of the ES family (a building block like estimators)
    "trustopt.bounds": 2,        # box bounds and their transforms for the black-box API; imports only _validation
    # 3 -- core: protocols, the loop, result types.
    "trustopt.core": 3,
    # 4 -- components: samplers, surrogates, distances, steps, acceptance, radius rules, search distributions.
    "trustopt.components": 4,
    # 5 -- envs: the only place that imports gymnasium / mujoco.
    "trustopt.envs": 5,
    # 6 -- algorithms: one factory per algorithm, the registry.
    "trustopt.algorithms": 6,
    # 7 -- entry points on the registry and execution backends (DESIGN puts minimize beside algorithms;
    #      it is one layer up because it is built on the registry's methods).
    "trustopt.api": 7,           # trustopt.run: builds a method from the registry and drives the loop
    "trustopt.asktell": 7,       # the one ask/tell adapter AskTell(method) over any registered method
    "trustopt.blackbox": 7,      # ask/tell optimizers over the registry's ES methods
    "trustopt.optimize": 7,      # trustopt.minimize on the ask/tell optimizers
    "trustopt.workers": 7,       # the generic process pool (map(fn, shared, items) with the noise table); imports
                                 # only _backends, _validation and noise; used by minimize, train and the cli
    "trustopt.workers_ray": 7,   # the Ray backend, same role as workers
    # 8 -- user-facing: the training driver, the command line, the package facade.
    "trustopt.train": 8,
    "trustopt.cli": 8,
    "trustopt.__main__": 8,      # python -m trustopt -> cli
    "trustopt": 8,               # the package facade: lazy re-exports of run, minimize, the ask/tell classes
    "proofs_check": 9,           # the executable claims, on top of the public API
}

#: ``module -> reason``: modules outside ``trustopt.envs`` that may import gymnasium/mujoco, and only
#: inside a function (so importing the module never needs the simulator).
LAZY_SIMULATOR_IMPORTS: dict[str, str] = {}

SIMULATORS = {"gymnasium", "mujoco"}
NUMBA_MODULE = "trustopt._numba"


@dataclass(frozen=True)
class Import:
    source: str          # importing module
    target: str          # imported module (a trustopt/proofs_check module, or the top-level external name)
    internal: bool       # target is a module of this repository
    lineno: int
    lazy: bool           # inside a function body


def _modules() -> dict[str, tuple[pathlib.Path, bool]]:
    """``dotted name -> (path, is_package)`` for every module of trustopt/ and proofs_check/."""
    found = {}
    for top in ("trustopt", "proofs_check"):
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


MODULES = _modules()
TRUSTOPT = sorted(m for m in MODULES if m == "trustopt" or m.startswith("trustopt."))


def _nearest_module(name: str) -> str:
    """The longest prefix of ``name`` that is a module (``trustopt.lqr.LQR`` -> ``trustopt.lqr``)."""
    while name not in MODULES and "." in name:
        name = name.rpartition(".")[0]
    return name


class _ImportVisitor(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool):
        self.module, self.is_package, self.depth, self.found = module, is_package, 0, []

    def _function(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def _add(self, target: str, node):
        top = target.split(".")[0]
        internal = top in ("trustopt", "proofs_check")
        self.found.append(Import(self.module, _nearest_module(target) if internal else top, internal,
                                 node.lineno, self.depth > 0))

    def visit_Import(self, node):
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node):
        if node.level:  # relative: the package of this module, then one level up per extra dot
            package = self.module.split(".") if self.is_package else self.module.split(".")[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join(package + ([node.module] if node.module else []))
        else:
            base = node.module
        for alias in node.names:
            full = f"{base}.{alias.name}"
            self._add(full if full in MODULES else base, node)


def _imports(module: str) -> list[Import]:
    path, is_package = MODULES[module]
    visitor = _ImportVisitor(module, is_package)
    visitor.visit(ast.parse(path.read_text(), filename=str(path)))
    return visitor.found


IMPORTS = {m: _imports(m) for m in MODULES}


def _where(imp: Import) -> str:
    path = MODULES[imp.source][0].relative_to(ROOT)
    return f"{path}:{imp.lineno}" + (" (lazy)" if imp.lazy else "")


def layer_of(module: str) -> int | None:
    """Layer of the longest :data:`LAYERS` prefix covering ``module`` (``"trustopt"`` covers only itself)."""
    keys = [k for k in LAYERS if module == k or (k != "trustopt" and module.startswith(k + "."))]
    return LAYERS[max(keys, key=len)] if keys else None


# --------------------------------------------------------------------------- the import graph


def _graph() -> dict[str, dict[str, Import]]:
    """``source -> {target: first import statement}`` over trustopt modules, self-imports dropped."""
    graph = {m: {} for m in TRUSTOPT}
    for m in TRUSTOPT:
        for imp in IMPORTS[m]:
            if imp.internal and imp.target in graph and imp.target != m:
                graph[m].setdefault(imp.target, imp)
    return graph


def strongly_connected_components(graph: dict[str, dict]) -> list[list[str]]:
    """Tarjan's algorithm (iterative): the components, each a list of modules."""
    index, low, on_stack, stack, components, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]
                    counter[0] += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(graph[nxt])))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return components


def _one_cycle(graph: dict[str, dict[str, Import]], component: list[str]) -> list[Import]:
    """A shortest cycle through the component's first module (breadth-first within the component)."""
    start, members = component[0], set(component)
    parent = {start: None}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt, imp in graph[node].items():
                if nxt == start:
                    path = [imp]
                    while parent[path[-1].source] is not None:
                        path.append(parent[path[-1].source])
                    return path[::-1]
                if nxt in members and nxt not in parent:
                    parent[nxt] = imp
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no cycle found in component {component}")


# --------------------------------------------------------------------------- the checks


def test_every_module_has_a_layer():
    missing = [m for m in MODULES if layer_of(m) is None]
    assert not missing, f"modules without an entry in LAYERS (add one with its reason): {missing}"


def test_no_import_cycles():
    graph = _graph()
    cycles = [c for c in strongly_connected_components(graph) if len(c) > 1]
    lines = []
    for component in cycles:
        cycle = _one_cycle(graph, component)
        lines.append(f"{len(component)} modules {component}; a cycle: "
                     + " -> ".join(f"{imp.source} [{_where(imp)}]" for imp in cycle) + f" -> {cycle[0].source}")
    assert not cycles, "import circles:\n" + "\n".join(lines)


def upward_imports() -> list[str]:
    """Every import of a module of a higher layer, as ``file:line: source (L) imports target (L')``."""
    found = []  # modules without a layer are reported by test_every_module_has_a_layer
    for module, imports in IMPORTS.items():
        for imp in imports:
            if imp.internal and None not in (layer_of(module), layer_of(imp.target)) \
                    and layer_of(imp.target) > layer_of(module):
                found.append(f"{_where(imp)}: {module} (layer {layer_of(module)}) imports "
                             f"{imp.target} (layer {layer_of(imp.target)})")
    return list(dict.fromkeys(found))  # one line per statement and target


def test_imports_point_down():
    assert layer_of("trustopt.lqr") < layer_of("trustopt.estimators") < layer_of("trustopt.core.loop") \
        < layer_of("trustopt.components.steps") < layer_of("trustopt.envs._base") < layer_of("trustopt.algorithms.ppo")
    found = upward_imports()
    assert not found, "imports of a higher layer:\n" + "\n".join(found)


def test_exact_oracles_import_only_infrastructure():
    """The oracles check the estimators, components and algorithms, so they import none of them."""
    oracles = [m for m in TRUSTOPT if layer_of(m) == 1]
    assert "trustopt.tabular.subproblems" in oracles and "trustopt.lqr" in oracles
    bad = [f"{_where(i)}: {m} imports {i.target}" for m in oracles for i in IMPORTS[m]
           if i.internal and layer_of(i.target) > 1]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("library", sorted(SIMULATORS))
def test_simulators_imported_only_under_envs(library):
    bad = []
    for module, imports in IMPORTS.items():
        for imp in imports:
            if imp.target != library or module == "trustopt.envs" or module.startswith("trustopt.envs."):
                continue
            if not (module in LAZY_SIMULATOR_IMPORTS and imp.lazy):
                bad.append(f"{_where(imp)}: {module} imports {library}")
    assert not bad, f"{library} outside trustopt.envs:\n" + "\n".join(bad)
    assert any(imp.target == library for m in TRUSTOPT if m.startswith("trustopt.envs") for imp in IMPORTS[m]), (
        f"trustopt.envs no longer imports {library}: update this test")


def test_numba_imported_in_one_module():
    users = {_where(imp) for m in MODULES for imp in IMPORTS[m] if imp.target == "numba"}
    owner = {_where(imp) for imp in IMPORTS[NUMBA_MODULE] if imp.target == "numba"}
    assert owner and users == owner, f"numba imported outside {NUMBA_MODULE}: {sorted(users - owner)}"


def test_proofs_check_uses_only_the_public_api():
    bad = []
    for module, imports in IMPORTS.items():
        if not module.startswith("proofs_check"):
            continue
        path = MODULES[module][0]
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").startswith("trustopt"):
                private = [p for p in node.module.split(".") if p.startswith("_")]
                private += [a.name for a in node.names if a.name.startswith("_") and a.name != "__version__"]
            elif isinstance(node, ast.Import):
                private = [p for a in node.names if a.name.startswith("trustopt")
                           for p in a.name.split(".") if p.startswith("_")]
            else:
                continue
            if private:
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: private {private}")
    assert not bad, "proofs_check reaches past the public API:\n" + "\n".join(bad)


def test_the_walker_sees_lazy_and_relative_imports():
    """The walker itself: a function-level import is marked lazy; relative imports resolve."""
    tree = ast.parse("from . import mdp\nfrom .evaluation import evaluate\n"
                     "def f():\n    from trustopt.lqr import LQR\n    import numba\n")
    visitor = _ImportVisitor("trustopt.tabular.solvers", is_package=False)
    visitor.visit(tree)
    got = [(i.target, i.internal, i.lazy) for i in visitor.found]
    assert got == [("trustopt.tabular.mdp", True, False), ("trustopt.tabular.evaluation", True, False),
                   ("trustopt.lqr", True, True), ("numba", False, True)]
    graph = {"a": {"b": 0}, "b": {"c": 0}, "c": {"a": 0}, "d": {"a": 0}}
    assert sorted(map(sorted, strongly_connected_components(graph))) == [["a", "b", "c"], ["d"]]
