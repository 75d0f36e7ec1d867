"""The layout rules of the tree (README "Layout"), checked on the source itself.

* dependencies point one way: ``curakit`` <- ``diagnose`` <- ``augment`` <- ``curate``, and the
  command line (``curakit._cli``) sits on top of all four;
* no module imports a private name (``pkg._module``) of another package;
* no import circle between modules, counting imports inside functions and a package's lazy
  (PEP 562) names;
* no library function over 80 lines and no class over 400.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("curakit", "diagnose", "augment", "curate")
RANK = {name: i for i, name in enumerate(PACKAGES)}
RANK["curakit._cli"] = len(PACKAGES)  # the CLI parses arguments and calls the stages' public names
MAX_FUNCTION_LINES = 80
MAX_CLASS_LINES = 400


def _modules():
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join(parts), path


MODULES = dict(_modules())


def _imports(name, path):
    """(imported module, line) for every import in the module, at any depth."""
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_pkg else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield (full if full in MODULES else base), node.lineno
        elif is_pkg and isinstance(node, ast.Constant) and isinstance(node.value, str):
            # a package's lazy names (PEP 562 ``_LAZY = {"name": "._module"}``) import on first
            # access: they count as imports, so laziness cannot hide a circle or a wrong direction
            target = f"{name}{node.value}" if node.value.startswith(".") else node.value
            if target in MODULES:
                yield target, node.lineno


def _resolve(target):
    """The tree module an import names (or None for third-party modules)."""
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def _graph():
    return {
        name: {t for t in (_resolve(t) for t, _ in _imports(name, path)) if t and t != name}
        for name, path in MODULES.items()
    }


def test_dependencies_point_one_way_and_private_names_stay_home():
    bad = []
    for name, path in MODULES.items():
        if path.name == "__main__.py":
            continue  # `python -m pkg` entry points: nothing imports them
        own = "curakit._cli" if name.startswith("curakit._cli") else name.split(".")[0]
        for target, line in _imports(name, path):
            top = "curakit._cli" if target.startswith("curakit._cli") else target.split(".")[0]
            if top not in RANK or top == own or (own == "curakit._cli" and top == "curakit"):
                continue
            where = f"{path.relative_to(ROOT)}:{line} imports {target}"
            if RANK[top] > RANK[own]:
                bad.append(f"{where} (against the direction curakit <- diagnose <- augment <- curate)")
            elif any(part.startswith("_") for part in target.split(".")[1:]) and top != "curakit":
                bad.append(f"{where} (a private module of another package)")
    assert not bad, "\n".join(bad)


def test_no_import_circles():
    graph = _graph()
    # a module importing its own package's __init__ is not a circle of the kind this rule is about
    for name in graph:
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not circles, "import circles: " + "; ".join(" <-> ".join(c) for c in circles)


#: Functions and classes still over the limit, with their current length: a ratchet. Each may only
#: shrink; an entry must be removed once it fits (the test says so), and nothing new may join.
STILL_TOO_LONG: dict[str, int] = {
}


def _lengths():
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                limit = MAX_CLASS_LINES if isinstance(node, ast.ClassDef) else MAX_FUNCTION_LINES
                yield f"{path.relative_to(ROOT)}::{node.name}", node.end_lineno - node.lineno + 1, limit


def test_functions_and_classes_fit_on_a_screen():
    seen, bad = set(), []
    for key, n, limit in _lengths():
        allowed = STILL_TOO_LONG.get(key, limit)
        if key in STILL_TOO_LONG:
            seen.add(key)
            if n <= limit:
                bad.append(f"{key} now has {n} lines: remove it from STILL_TOO_LONG")
        if n > allowed:
            bad.append(f"{key} has {n} lines (limit {limit}" + (f", ratchet {allowed})" if key in STILL_TOO_LONG else ")"))
    bad += [f"{key} is in STILL_TOO_LONG but no longer exists" for key in set(STILL_TOO_LONG) - seen]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("pkg", PACKAGES)
def test_checker_sees_every_package(pkg):
    # guards the checks above against silently reading nothing
    assert sum(name.split(".")[0] == pkg for name in MODULES) >= 3
