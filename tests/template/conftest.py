"""Fixtures for the template tests: fresh copies of the templates, so a test may mutate one."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from .cfn import ROOT, load

TEMPLATE_PATH = ROOT / "template.yaml"
EXAMPLE_STACK_PATH = ROOT / "infra" / "example-stack.yaml"
BAD_TEMPLATE_PATH = ROOT / "tests" / "template" / "fixtures" / "bad-template.yaml"

_CACHE: dict[str, dict[str, Any]] = {}


def _fresh(path_key: str) -> dict[str, Any]:
    paths = {
        "template": TEMPLATE_PATH,
        "example": EXAMPLE_STACK_PATH,
        "bad": BAD_TEMPLATE_PATH,
    }
    if path_key not in _CACHE:
        _CACHE[path_key] = load(paths[path_key])
    return copy.deepcopy(_CACHE[path_key])


@pytest.fixture
def template() -> dict[str, Any]:
    return _fresh("template")


@pytest.fixture
def example_stack() -> dict[str, Any]:
    return _fresh("example")


@pytest.fixture
def bad_template() -> dict[str, Any]:
    return _fresh("bad")
