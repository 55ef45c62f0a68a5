"""Checks of what the docs claim against what the code does.

Every check takes the document's text and the facts (from `tests.docs.facts`) and returns a list
of problems, each a sentence that says which document, which section and what to write. An empty
list means the claim is true. The tests feed them the real docs, and deliberately broken copies
to prove each check can fail.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePosixPath

from tests.docs.facts import Adapter, Port, Variable

_FENCE = re.compile(r"^\s*```")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
_CODE = re.compile(r"`([^`]+)`")
# An AWS operation name: two or more capitalised words run together (DescribeACLs, ListTags).
_OPERATION = re.compile(r"^[A-Z][a-z]+(?:[A-Z][A-Za-z]*)+$")
_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip


def section(text: str, title: str) -> list[str] | None:
    """The lines under the heading `title` (any level), up to the next heading of that level or
    higher; None when there is no such heading."""
    lines = text.splitlines()
    fenced = False
    start = level = None
    for index, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else _HEADING.match(line)
        if match is None:
            continue
        depth = len(match.group(1))
        if start is None and match.group(2) == title:
            start, level = index + 1, depth
        elif start is not None and level is not None and depth <= level:
            return lines[start:index]
    return None if start is None else lines[start:]


def table_rows(lines: Iterable[str]) -> list[list[str]]:
    """The body rows of the Markdown tables in `lines` (header and rule rows left out)."""
    rows: list[list[str]] = []
    previous_was_table = False
    for line in lines:
        stripped = line.strip()
        if not stripped.startswith("|"):
            previous_was_table = False
            continue
        cells = [cell.strip() for cell in stripped.strip("|").split("|")]
        if not previous_was_table:
            previous_was_table = True  # the header row
            continue
        if all(re.fullmatch(r":?-+:?", cell) for cell in cells if cell):
            continue
        rows.append(cells)
    return rows


def fenced_blocks(text: str) -> list[list[str]]:
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if _FENCE.match(line):
            if current is None:
                current = []
            else:
                blocks.append(current)
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def _missing_section(document: str, title: str, what: str) -> list[str]:
    return [f"{document}: there is no section '{title}'; add it with {what}"]


# -- the AWS operations ----------------------------------------------------------------------------


def check_operations_table(
    text: str, operations: Mapping[str, set[str]], *, document: str, title: str
) -> list[str]:
    """A table with one row per adapter module (`adapters/memorydb.py`) naming, in backticks,
    exactly the operations that module calls."""
    lines = section(text, title)
    if lines is None:
        return _missing_section(document, title, "a row per adapter and its AWS operations")
    problems = []
    rows = table_rows(lines)
    for module, expected in sorted(operations.items()):
        row = next((r for r in rows if any(f"adapters/{module}" in cell for cell in r)), None)
        if row is None:
            problems.append(
                f"{document}, section '{title}': no row for adapters/{module}; add one listing "
                f"{', '.join(sorted(expected))}"
            )
            continue
        claimed = {name for cell in row for name in _CODE.findall(cell) if _OPERATION.match(name)}
        for name in sorted(expected - claimed):
            problems.append(
                f"{document}, section '{title}': the row of adapters/{module} omits {name}, "
                f"which rotation/adapters/{module} calls; add `{name}`"
            )
        for name in sorted(claimed - expected):
            problems.append(
                f"{document}, section '{title}': the row of adapters/{module} lists {name}, "
                f"which rotation/adapters/{module} does not call; remove it"
            )
    for row in rows:
        listed = {name for cell in row for name in _CODE.findall(cell) if _OPERATION.match(name)}
        for module in re.findall(r"adapters/(\w+\.py)", " ".join(row)):
            # A data-plane row (the verifier's `AUTH`) lists no AWS operation and is fine.
            if module not in operations and listed:
                problems.append(
                    f"{document}, section '{title}': the row of adapters/{module} lists "
                    f"{', '.join(sorted(listed))}, but that module makes no AWS call (or does "
                    "not exist); remove them"
                )
    return problems


def check_route_operations(
    text: str, operations: Mapping[str, set[str]], *, document: str
) -> list[str]:
    """The route drawing: each `adapters/x.py ──▶ ...` line ends with the operations, in
    parentheses, that the adapter calls."""
    problems = []
    route = re.compile(r"adapters/(\w+\.py)\s*─+▶.*?\(([^)]*)\)\s*$")
    seen = set()
    for line in text.splitlines():
        match = route.search(line)
        if match is None:
            continue
        module, listed = match.group(1), match.group(2)
        seen.add(module)
        if module not in operations:
            continue  # the data-plane adapter: its parentheses say what it sends, not AWS calls
        claimed = {part.strip() for part in listed.split(",")} - {"...", "…", ""}
        expected = operations[module]
        for name in sorted(expected - claimed):
            problems.append(
                f"{document}, the route of one event: adapters/{module}'s line omits {name}; "
                "add it in the parentheses"
            )
        for name in sorted(claimed - expected):
            problems.append(
                f"{document}, the route of one event: adapters/{module}'s line names {name}, "
                f"which rotation/adapters/{module} does not call; remove it"
            )
    for module in sorted(set(operations) - seen):
        problems.append(
            f"{document}, the route of one event: no `adapters/{module} ──▶ ... (operations)` "
            f"line; add one naming {', '.join(sorted(operations[module]))}"
        )
    return problems


# -- settings ------------------------------------------------------------------------------------


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def check_settings_table(
    text: str, variables: Sequence[Variable], *, document: str, title: str
) -> list[str]:
    """A table whose first cell names the variable(s) in backticks (`A` / `B` for two) and whose
    second cell gives the default(s), in the same order, for every variable that has one."""
    lines = section(text, title)
    if lines is None:
        return _missing_section(document, title, "a row per environment variable")
    known = {variable.name: variable for variable in variables}
    problems = []
    documented: dict[str, str] = {}
    for row in table_rows(lines):
        names = [n for n in _CODE.findall(row[0]) if re.fullmatch(r"[A-Z][A-Z0-9_]+", n)]
        defaults = [d.strip() for d in row[1].split(" / ")] if len(row) > 1 else []
        for index, name in enumerate(names):
            documented[name] = defaults[index] if index < len(defaults) else ""
    for name in sorted(set(known) - set(documented)):
        problems.append(
            f"{document}, section '{title}': {name} is read by rotation.settings.Settings but "
            "has no row; add it with its default and meaning"
        )
    for name in sorted(set(documented) - set(known)):
        problems.append(
            f"{document}, section '{title}': {name} has a row but rotation.settings.Settings "
            "reads no such variable; remove the row"
        )
    for name in sorted(set(documented) & set(known)):
        default = known[name].default
        if default is None:
            continue
        claimed = _CODE.findall(documented[name])
        if claimed != [_shown(default)]:
            problems.append(
                f"{document}, section '{title}': the default of {name} is `{_shown(default)}` "
                f"in rotation.settings.Settings, the table says {documented[name] or 'nothing'}"
            )
    return problems


# -- adapters, ports, modules, rooms -------------------------------------------------------------


def check_counts(text: str, counted: Mapping[str, int], *, document: str) -> list[str]:
    """A sentence such as "three ports" or "4 adapters" must give the number the code has."""
    problems = []
    for noun, count in sorted(counted.items()):
        pattern = re.compile(rf"\b(\d+|{'|'.join(_NUMBER_WORDS)})\s+{noun}\b", re.IGNORECASE)
        for match in pattern.finditer(text):
            word = match.group(1).lower()
            said = int(word) if word.isdigit() else _NUMBER_WORDS[word]
            if said != count:
                problems.append(
                    f"{document}: '{match.group(0)}', but the code has {count} {noun}; correct it"
                )
    return problems


def check_named(
    text: str, names: Iterable[str], *, document: str, what: str, source: str
) -> list[str]:
    return [
        f"{document}: never names {name}, {what} in {source}; describe it"
        for name in sorted(set(names))
        if not re.search(rf"\b{re.escape(name)}\b", text)
    ]


_ENTRY = re.compile(r"^(\s*)(\S+(?: \S+)*?)(?:\s{2,}.*)?$")
_PATHLIKE = re.compile(r"^\.?[\w.-]+/?$")


def tree_paths(block: Sequence[str]) -> dict[str, str]:
    """The paths a tree drawing claims, each with its line.

    An entry is one or more names separated by single spaces, then two or more spaces and a
    description; a folder ends with `/`; indentation nests an entry under the folder above it.
    A line whose first name is not path-like (prose continuing a description) claims nothing.
    """
    claimed: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in block:
        if not line.strip():
            continue
        match = _ENTRY.match(line)
        if match is None:
            continue
        indent = len(match.group(1))
        names = match.group(2).split(" ")
        if not all(_PATHLIKE.match(name) for name in names):
            continue
        if not any(name.endswith("/") or "." in name for name in names):
            continue  # a plain word: description text wrapped onto its own line
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1] if stack else ""
        for name in names:
            path = str(PurePosixPath(parent) / name.rstrip("/")) if parent else name.rstrip("/")
            claimed[path] = line
            if name.endswith("/") and len(names) == 1:
                stack.append((indent, path))
    return claimed


def check_tree(
    text: str,
    *,
    modules: Iterable[str],
    rooms: Iterable[str],
    exists: Mapping[str, bool] | None = None,
    document: str,
) -> list[str]:
    """The first drawing in the doc is the tree: every module of `rotation/`, every top-level
    folder, and nothing that is not there."""
    blocks = fenced_blocks(text)
    if not blocks:
        return [f"{document}: no tree drawing (a fenced block) at the top; add one"]
    claimed = tree_paths(blocks[0])
    problems = []
    for module in sorted(modules):
        if module not in claimed:
            folder = str(PurePosixPath(module).parent) + "/"
            problems.append(
                f"{document}, the tree: {module} is missing; add `{PurePosixPath(module).name}` "
                f"under {folder} with what it is for"
            )
    for room in sorted(rooms):
        if room not in claimed:
            problems.append(
                f"{document}, the tree: the top-level folder {room}/ is missing; add it with its "
                "role"
            )
    if exists is not None:
        for path in sorted(claimed):
            if not exists.get(path, False):
                problems.append(
                    f"{document}, the tree: {path} does not exist in the repository; remove it "
                    "or write the path it moved to"
                )
    return problems


def check_module_lines(
    text: str, ports: Sequence[Port], adapters: Sequence[Adapter], *, document: str
) -> list[str]:
    """In the tree, the line of each adapter module names its classes and the ports they
    implement; the line of each module that defines a port names that port."""
    blocks = fenced_blocks(text)
    claimed = tree_paths(blocks[0]) if blocks else {}
    problems = []
    wanted: dict[str, set[str]] = {}
    for adapter in adapters:
        wanted.setdefault(f"rotation/adapters/{adapter.module}", set()).update(
            {adapter.name, *adapter.implements}
        )
    for port in ports:
        wanted.setdefault(port.module, set()).add(port.name)
    for path, names in sorted(wanted.items()):
        line = claimed.get(path)
        if line is None:
            continue  # check_tree reports the missing module
        for name in sorted(names):
            if not re.search(rf"\b{name}\b", line):
                problems.append(
                    f"{document}, the tree: the line of {path} does not name {name}; write it there"
                )
    return problems


# -- words that must not be there ----------------------------------------------------------------


def check_no_ping(text: str, *, document: str) -> list[str]:
    return [
        f"{document}:{number}: mentions PING, but the verifier sends AUTH only "
        "(rotation/adapters/redis_verifier.py); remove the claim"
        for number, line in enumerate(text.splitlines(), 1)
        if re.search(r"\bPING\b", line)
    ]


def check_attempts(text: str, attempts: int, *, document: str) -> list[str]:
    """botocore's attempts are counted as the code counts them: the first one included."""
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        for match in re.finditer(r"\b(\d+)\s*\+\s*(\d+)\s+attempts\b", line):
            problems.append(
                f"{document}:{number}: '{match.group(0)}': rotation.adapters.aws makes "
                f"{attempts} attempts in all (total_max_attempts); write '{attempts} attempts'"
            )
        if "botocore" in line or "AWS call" in line:
            for match in re.finditer(r"(?<!\+ )\b(\d+) attempts\b", line):
                if int(match.group(1)) != attempts:
                    problems.append(
                        f"{document}:{number}: '{match.group(0)}', but rotation.adapters.aws "
                        f"makes {attempts}; correct it"
                    )
    return problems


_ISSUE = re.compile(r"\bissues? #?\d+", re.IGNORECASE)


def check_no_issue_numbers(text: str, *, document: str) -> list[str]:
    return [
        f"{document}:{number}: '{match.group(0)}': the repository has no tracker; say what the "
        "change was instead"
        for number, line in enumerate(text.splitlines(), 1)
        for match in _ISSUE.finditer(line)
    ]


# -- the decision log ----------------------------------------------------------------------------

_STATUS = re.compile(r"^Status: (accepted|superseded by (.+))$")


def check_decision_records(text: str, *, document: str) -> list[str]:
    """Every `## title` record has a `Status:` line: `accepted`, or `superseded by <title>` naming
    a record that exists."""
    records: dict[str, list[str]] = {}
    current: str | None = None
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        match = None if fenced else re.match(r"^## (.+?)\s*$", line)
        if match:
            current = match.group(1)
            if current in records:
                return [f"{document}: two records are titled '{current}'; rename one"]
            records[current] = []
        elif current is not None:
            records[current].append(line)
    if not records:
        return [f"{document}: no `## title` records"]
    problems = []
    for title, body in records.items():
        statuses = [m for m in (_STATUS.match(line) for line in body) if m]
        if len(statuses) != 1:
            problems.append(
                f"{document}, '{title}': needs exactly one line 'Status: accepted' or "
                f"'Status: superseded by <title>' (found {len(statuses)})"
            )
            continue
        successor = statuses[0].group(2)
        if successor is not None and successor not in records:
            problems.append(
                f"{document}, '{title}': superseded by '{successor}', but there is no record "
                "with that title"
            )
    return problems
