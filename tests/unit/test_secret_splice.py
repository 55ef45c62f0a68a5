"""Property: a new version is the old document with only the password's bytes changed.

`Credentials.with_password` splices the new password into the stored text at the span
`_value_span` finds with json's own string scanner. Generated documents vary what a hand-written
scanner could get wrong: key order, whitespace and separators, escapes (in keys, in values and
in the password), non-ASCII text, nested objects that hold a "password" key of their own, and
numbers no float can hold.
"""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from rotation import passwords
from rotation.models import Credentials

settings.register_profile("ci", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_KEYS = st.text(min_size=1, max_size=12).filter(
    lambda k: k not in {"username", "password", "host", "port", "ssl", "user_arn"}
)
_SCALARS = st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.text(max_size=20)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["password", "a", "é", "\\"]) | _KEYS, inner, max_size=3)
    ),
    max_leaves=8,
)
# Printable ASCII without MemoryDB's forbidden characters, but with the JSON-escaped ones.
_PASSWORDS = st.text(
    alphabet=st.sampled_from(passwords.ALPHABET + "\\'`"), min_size=16, max_size=40
)


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, dict[str, Any], str]:
    extra = draw(st.dictionaries(_KEYS, _VALUES, max_size=5))
    password = draw(_PASSWORDS)
    items = [("username", "app-user"), ("password", password), *extra.items()]
    order = draw(st.permutations(items))
    document = dict(order)
    indent = draw(st.sampled_from([None, 0, 2, "\t"]))
    separators = draw(st.sampled_from([(",", ":"), (", ", ": "), (" ,", " : ")]))
    ensure_ascii = draw(st.booleans())
    text = json.dumps(document, indent=indent, separators=separators, ensure_ascii=ensure_ascii)
    if draw(st.booleans()):
        text = "\n " + text + " \r\n"
    return text, document, password


@given(documents(), _PASSWORDS)
def test_only_the_password_bytes_change(doc: tuple[str, dict[str, Any], str], new: str) -> None:
    text, document, old = doc
    result = Credentials.parse(text).with_password(SecretStr(new))

    assert json.loads(result) == {**document, "password": new}
    assert _spliced_at(text, result, old, new), "bytes other than the password's changed"


def _spliced_at(text: str, result: str, old: str, new: str) -> bool:
    """result == A + dumps(new) + B and text == A + Y + B, with Y one JSON string of `old`."""
    literal = json.dumps(new)
    tail = len(result)
    index = result.find(literal)
    while index >= 0:
        after = tail - index - len(literal)
        middle = text[index : len(text) - after]
        if (
            text[:index] == result[:index]
            and text[len(text) - after :] == result[index + len(literal) :]
            and middle.startswith('"')
            and _decodes_to(middle, old)
        ):
            return True
        index = result.find(literal, index + 1)
    return False


def _decodes_to(token: str, expected: str) -> bool:
    try:
        return bool(json.loads(token) == expected)
    except ValueError:
        return False
