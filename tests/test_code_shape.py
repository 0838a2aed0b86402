"""No function or method in ``trustopt/`` is longer than :data:`MAX_LINES` lines (issue 12).

Length of a function = ``end_lineno - lineno + 1`` of its ``def`` (decorators not counted)
MINUS the lines of its docstring: a long docstring that states the formula, the shapes and
the paper is wanted, not a defect. Nested functions are listed on their own and also count
inside the function that holds them. A long function that should stay long is listed in
:data:`EXCEPTIONS` with the reason; an exception that is no longer long (or no longer exists)
fails the test too, so the list stays true.
"""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
MAX_LINES = 60

#: ``"module:qualified.name" -> reason`` for the functions allowed to be longer than MAX_LINES.
EXCEPTIONS = {
    "trustopt.cli:build_parser": "the command line's flags, one add_argument per flag: a declaration read as a "
                                 "table (the --help text), not logic",
}


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def function_lengths(path: pathlib.Path) -> dict[str, tuple[int, int]]:
    """``qualified name -> (first line, length without the docstring)`` of every function in ``path``."""
    found = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = child.end_lineno - child.lineno + 1
                if ast.get_docstring(child, clean=False) is not None:
                    doc = child.body[0]
                    length -= doc.end_lineno - doc.lineno + 1
                found[f"{prefix}{child.name}"] = (child.lineno, length)
                visit(child, f"{prefix}{child.name}.<locals>.")
            else:
                visit(child, prefix)

    visit(ast.parse(path.read_text(), filename=str(path)), "")
    return found


def long_functions(package: str = "trustopt") -> dict[str, tuple[str, int]]:
    """``"module:qualname" -> ("file:line", length)`` of every function longer than MAX_LINES."""
    out = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        for name, (line, length) in function_lengths(path).items():
            if length > MAX_LINES:
                out[f"{_module_name(path)}:{name}"] = (f"{path.relative_to(ROOT)}:{line}", length)
    return out


def test_no_function_longer_than_the_limit():
    found = long_functions()
    over = {k: v for k, v in found.items() if k not in EXCEPTIONS}
    lines = [f"{where} {name} ({length} lines)" for name, (where, length) in sorted(over.items())]
    assert not over, (f"functions over {MAX_LINES} lines (docstring excluded): split them into named steps, "
                      "or list them in EXCEPTIONS with the reason:\n" + "\n".join(lines))


def test_exceptions_are_still_needed():
    stale = sorted(set(EXCEPTIONS) - set(long_functions()))
    assert not stale, f"EXCEPTIONS no longer over {MAX_LINES} lines (or gone): remove {stale}"


def test_the_length_rule(tmp_path):
    """The measure itself: docstring lines excluded, decorators excluded, nested functions named."""
    src = ('@decorator\ndef f(x):\n    """Doc\n\n    more doc.\n    """\n    y = x\n'
           '    def g():\n        return y\n    return g\n\nclass C:\n    def m(self):\n        return 1\n')
    path = tmp_path / "mod.py"
    path.write_text(src)
    assert function_lengths(path) == {"f": (2, 5), "f.<locals>.g": (8, 2), "C.m": (13, 2)}
