"""The compiler's import graph: no cycles, and no import of the runtime (`mxc.` outside
`mxc.compiler`). Every `import` / `from ... import` is read from the source with ast, at module
level and inside functions alike, since a lazy import only hides a cycle until it runs."""
import ast
import os

import pytest

import mxc.compiler

COMPILER_DIR = os.path.dirname(mxc.compiler.__file__)
PACKAGE = "mxc.compiler"


def _module_files(root=COMPILER_DIR, package=PACKAGE):
    """{dotted module name: path} of every .py file under compiler/ (packages as their name)."""
    out = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__" and not d.startswith(".")]
        rel = os.path.relpath(folder, root)
        prefix = package if rel == "." else package + "." + rel.replace(os.sep, ".")
        for f in files:
            if f.endswith(".py"):
                name = prefix if f == "__init__.py" else prefix + "." + f[:-3]
                out[name] = os.path.join(folder, f)
    return out


def _imported(module, path, modules):
    """Absolute names of everything `module` imports; a `from pkg import x` names pkg.x when
    that is a module, else pkg."""
    is_package = os.path.basename(path) == "__init__.py"
    base = module.split(".") if is_package else module.split(".")[:-1]
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base[:len(base) - (node.level - 1)]
                assert len(parts) == len(base) - (node.level - 1), \
                    "%s: relative import above the top package" % module
                target = ".".join(parts + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:
                sub = target + "." + alias.name
                found.append(sub if sub in modules else target)
    return found


def import_graph(modules=None):
    """{module: set of compiler modules it imports}, plus the list of runtime imports."""
    modules = modules or _module_files()
    graph, runtime = {}, []
    for name, path in modules.items():
        graph[name] = set()
        for target in _imported(name, path, modules):
            if target in modules and target != name:
                graph[name].add(target)
            elif (target == "mxc" or target.startswith("mxc.")) and not (
                    target == PACKAGE or target.startswith(PACKAGE + ".")):
                runtime.append((name, target))
    return graph, runtime


def find_cycle(graph):
    """One cycle as a list of modules [a, b, ..., a], or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_every_compiler_module_is_seen():
    modules = _module_files()
    for name in ("mxc.compiler.graph", "mxc.compiler.symbol", "mxc.compiler.shape",
                 "mxc.compiler.plan", "mxc.compiler.ops", "mxc.compiler.ops.base"):
        assert name in modules
    graph, _ = import_graph(modules)
    assert "mxc.compiler.graph" in graph["mxc.compiler.shape"]
    assert "mxc.compiler.ops.base" in graph["mxc.compiler.shape"]


def test_no_import_cycle_in_compiler():
    graph, _ = import_graph()
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_compiler_never_imports_the_runtime():
    _, runtime = import_graph()
    assert runtime == [], "compiler modules importing the runtime: %s" % runtime


def test_graph_depends_on_neither_symbol_nor_shape():
    graph, _ = import_graph()
    assert graph["mxc.compiler.graph"] <= {"mxc.compiler.errors"}
    assert "mxc.compiler.symbol" not in graph["mxc.compiler.shape"]


def _write(tmp_path, files):
    root = tmp_path / "pkg"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return _module_files(str(root), PACKAGE)


@pytest.mark.parametrize("files, cyclic", [
    ({"__init__.py": "", "a.py": "from .b import x\n", "b.py": "x = 1\n"}, False),
    ({"__init__.py": "", "a.py": "from .b import x\n",
      "b.py": "def f():\n    from .a import y\n"}, True),                  # lazy import
    ({"__init__.py": "", "a.py": "from . import b\n",
      "b.py": "import mxc.compiler.a\n"}, True),                          # absolute
    ({"__init__.py": "", "sub/__init__.py": "", "sub/c.py": "from ..a import z\n",
      "a.py": "from .sub.c import w\n"}, True),                          # two levels up
])
def test_walker_finds_planted_cycles(tmp_path, files, cyclic):
    graph, _ = import_graph(_write(tmp_path, files))
    assert (find_cycle(graph) is not None) == cyclic


def test_walker_finds_planted_runtime_imports(tmp_path):
    modules = _write(tmp_path, {"__init__.py": "", "a.py": "def f():\n    import mxc.nd\n",
                                "b.py": "from .. import module\n",
                                "c.py": "from mxc.compiler import a\n"})
    _, runtime = import_graph(modules)
    assert sorted(runtime) == [("mxc.compiler.a", "mxc.nd"), ("mxc.compiler.b", "mxc")]
