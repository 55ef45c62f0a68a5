"""Does an exception, or anything its __cause__/__context__ chain holds, carry a secret?

Suppressed context (`raise ... from None`) is still there: `__suppress_context__` only hides it
from tracebacks, and a JSONDecodeError's `.doc` is the whole SecretString. So every exception in
the chain is searched: its message, its args, and the attributes it keeps (one level into
containers, which is where json and pydantic keep their input).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__]


def _texts(value: Any, depth: int = 0) -> Iterator[str]:
    if isinstance(value, str | bytes):
        yield value if isinstance(value, str) else value.decode("utf-8", "replace")
    elif depth < 3 and isinstance(value, dict):
        for key, item in value.items():
            yield from _texts(key, depth + 1)
            yield from _texts(item, depth + 1)
    elif depth < 3 and isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _texts(item, depth + 1)
    elif depth < 3 and isinstance(value, BaseException):
        yield from _texts(value.args, depth + 1)
        yield from _texts(vars(value), depth + 1)
    elif depth < 3 and hasattr(value, "errors") and callable(value.errors):
        # pydantic's ValidationError keeps its input inside errors().
        yield from _texts(value.errors(), depth + 1)


def secrets_in_chain(exc: BaseException, *secrets: str) -> list[str]:
    """`Type: secret` for each exception in the chain that holds one of `secrets` anywhere."""
    found = []
    for link in chain(exc):
        texts = [str(link), repr(link), *_texts(link.args), *_texts(vars(link))]
        if hasattr(link, "errors") and callable(link.errors):
            texts += list(_texts(link.errors()))
        for secret in secrets:
            if any(secret in text for text in texts):
                found.append(f"{type(link).__name__} holds a secret")
    return found
