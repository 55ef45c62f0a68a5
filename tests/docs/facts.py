"""The facts the docs describe, derived from the code every time (never a copy of it).

Each function reads `rotation/` (with `ast`, or the settings model itself) so a refactor that
adds, removes or moves an operation, a variable, an adapter, a port or a module changes the facts
here, and the docs test then names the sentence to update.
"""

from __future__ import annotations

import ast
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROTATION = ROOT / "rotation"
ADAPTERS = ROTATION / "adapters"


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _callee(node: ast.Call) -> str | None:
    """`call(...)` → "call", `self._pages(...)` → "_pages"."""
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _literal(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def operations_in(module: ast.Module) -> set[str]:
    """The AWS operation names a module hands to `rotation.adapters.aws.call`.

    `call("DescribeUsers", ...)` names one directly. A helper that passes one of its own
    parameters on (`def _pages(self, operation, ...): call(operation, ...)`) is followed one
    level: the literals its callers pass in that position count too.
    """
    operations: set[str] = set()
    forwarders: dict[str, int] = {}  # helper name -> index of its operation argument at call sites
    for function in ast.walk(module):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        parameters = [arg.arg for arg in (*function.args.posonlyargs, *function.args.args)]
        for node in ast.walk(function):
            if not (isinstance(node, ast.Call) and _callee(node) == "call" and node.args):
                continue
            first = node.args[0]
            if isinstance(first, ast.Name) and first.id in parameters:
                index = parameters.index(first.id)
                # A method's callers do not pass `self`.
                forwarders[function.name] = index - 1 if parameters[0] == "self" else index
    for node in ast.walk(module):
        if not isinstance(node, ast.Call):
            continue
        name = _callee(node)
        position = 0 if name == "call" else forwarders.get(name or "")
        literal = (
            _literal(node.args[position])
            if position is not None and len(node.args) > position
            else None
        )
        if literal:
            operations.add(literal)
    return operations


def aws_operations() -> dict[str, set[str]]:
    """Adapter module file name (`memorydb.py`) → the AWS operations it calls."""
    found = {}
    for path in sorted(ADAPTERS.glob("*.py")):
        operations = operations_in(_tree(path))
        if operations:
            found[path.name] = operations
    return found


def _methods(cls: ast.ClassDef) -> set[str]:
    return {
        node.name
        for node in cls.body
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")
    }


def _is_protocol(cls: ast.ClassDef) -> bool:
    return any(
        (isinstance(base, ast.Name) and base.id == "Protocol")
        or (isinstance(base, ast.Attribute) and base.attr == "Protocol")
        for base in cls.bases
    )


@dataclass(frozen=True)
class Port:
    name: str
    module: str  # path relative to the repository, e.g. rotation/ports.py
    methods: frozenset[str]


@dataclass(frozen=True)
class Adapter:
    name: str
    module: str  # file name inside rotation/adapters/, e.g. memorydb.py
    implements: tuple[str, ...]  # the ports whose every method it defines


def ports() -> list[Port]:
    """Every `Protocol` class in `rotation/` (wherever it lives: ports.py, or a feature module)."""
    found = []
    for path in sorted(ROTATION.rglob("*.py")):
        for node in _tree(path).body:
            if isinstance(node, ast.ClassDef) and _is_protocol(node):
                found.append(
                    Port(node.name, str(path.relative_to(ROOT)), frozenset(_methods(node)))
                )
    return found


def adapters() -> list[Adapter]:
    """Public classes of `rotation/adapters/*.py`, each with the ports it satisfies structurally."""
    known = ports()
    found = []
    classes = [
        (path, node)
        for path in sorted(ADAPTERS.glob("*.py"))
        for node in _tree(path).body
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_")
    ]
    # A base the adapters share (BotoAdapter: the constructor and the lazy client) is no adapter.
    bases = {ast.unparse(base).split("[")[0] for _, node in classes for base in node.bases}
    for path, node in classes:
        # Exceptions an adapter raises inside itself are not adapters either.
        exception = any(ast.unparse(b).endswith(("Error", "Exception")) for b in node.bases)
        if node.name not in bases and not exception:
            methods = _methods(node)
            implements = tuple(p.name for p in known if p.methods and p.methods <= methods)
            found.append(Adapter(node.name, path.name, implements))
    return found


def rotation_modules() -> list[str]:
    """Every module of the deployed package, as a path: `rotation/adapters/aws.py`."""
    return sorted(
        str(path.relative_to(ROOT))
        for path in ROTATION.rglob("*.py")
        if path.name != "__init__.py" and "__pycache__" not in path.parts
    )


def tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, text=True
    ).stdout
    return [name for name in listed.split("\0") if name and (ROOT / name).exists()]


def rooms() -> list[str]:
    """The top-level folders the repository tracks (`rotation`, `sandbox`, ...), hidden ones
    (`.ci`) included: each has one role the layout doc states."""
    return sorted({name.split("/")[0] for name in tracked_files() if "/" in name})


@dataclass(frozen=True)
class Variable:
    name: str
    default: object  # None when the variable has no default value (unset means off or "all")


def settings_variables() -> list[Variable]:
    """The environment variables `Settings` reads: its fields' aliases, with their defaults."""
    from rotation.settings import Settings

    found = []
    for field in Settings.model_fields.values():
        if field.alias is None:
            continue
        default = None if field.is_required() else field.default
        found.append(Variable(field.alias, default))
    return found


def metrics() -> tuple[set[str], set[str]]:
    """Metric names and dimension names the function publishes.

    `add_metric(name=...)` and `add_dimension(name=...)` anywhere in `rotation/`; a
    `Metrics(service=...)` adds Powertools' `service` dimension to every metric.
    """
    names: set[str] = set()
    dimensions: set[str] = set()
    for path in sorted(ROTATION.rglob("*.py")):
        for node in ast.walk(_tree(path)):
            if not isinstance(node, ast.Call):
                continue
            keywords = {kw.arg: kw.value for kw in node.keywords if kw.arg}
            callee = _callee(node)
            if callee in ("add_metric", "add_dimension") and "name" in keywords:
                if (literal := _literal(keywords["name"])) is not None:
                    (names if callee == "add_metric" else dimensions).add(literal)
            elif callee == "Metrics" and "service" in keywords:
                dimensions.add("service")
    return names, dimensions


def sends_ping() -> bool:
    """Whether the credential verifier's code sends PING (a `PING` literal or a `.ping(` call)."""
    for path in sorted(ADAPTERS.glob("*.py")):
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Call) and _callee(node) == "ping":
                return True
            if isinstance(node, ast.Constant) and node.value == "PING":
                return True
    return False


def api_attempts() -> int:
    """botocore attempts per AWS call, the first one included."""
    from rotation.adapters.aws import API_ATTEMPTS

    return API_ATTEMPTS


def sandbox_methods() -> list[str]:
    """The public methods and properties of `sandbox.Sandbox`: the surface tests drive."""
    for node in _tree(ROOT / "sandbox" / "sandbox.py").body:
        if isinstance(node, ast.ClassDef) and node.name == "Sandbox":
            return sorted(
                item.name
                for item in node.body
                if isinstance(item, ast.FunctionDef) and not item.name.startswith("_")
            )
    raise LookupError("sandbox/sandbox.py defines no class Sandbox")
