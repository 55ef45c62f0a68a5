"""Text output: tables on a terminal, plain lines when piped, nothing at all in JSON mode."""

from __future__ import annotations

import io
import json

from memorydb_rotation_cli import render
from memorydb_rotation_cli.render import Output

DOC = {
    "command": "doctor",
    "checks": [
        {"id": "a", "title": "one", "result": "pass", "detail": "fine", "fix": None},
        {"id": "b", "title": "two", "result": "fail", "detail": "broken", "fix": "do this"},
        {"id": "c", "title": "three", "result": "cannot-check", "detail": "denied", "fix": None},
        {"id": "d", "title": "four", "result": "not-deployed", "detail": "later", "fix": None},
    ],
    "summary": {"pass": 1, "fail": 1, "cannot-check": 1, "not-deployed": 1},
    "verdict": {"code": "fail", "message": "1 check(s) failed", "next": None},
    "exit_code": 1,
}


def test_piped_text_is_plain() -> None:
    stream = io.StringIO()
    render.doctor(Output(json_mode=False, stream=stream, terminal=False), DOC)
    text = stream.getvalue()
    assert "FAIL          two: broken" in text
    assert "fix: do this" in text
    assert "CANNOT CHECK  three: denied" in text
    assert "NOT DEPLOYED  four: later" in text
    assert "1 pass, 1 fail, 1 cannot check, 1 not deployed yet" in text
    assert "verdict: fail: 1 check(s) failed" in text
    assert "\x1b[" not in text


def test_a_terminal_gets_colour_and_tables() -> None:
    stream = io.StringIO()
    out = Output(json_mode=False, stream=stream, terminal=True)
    render.doctor(out, DOC)
    out.table("versions", ["version", "labels"], [["v1", ["AWSCURRENT"]]])
    text = stream.getvalue()
    assert "\x1b[" in text
    assert "┃" in text or "│" in text


def test_json_mode_prints_the_document_and_nothing_else() -> None:
    stream = io.StringIO()
    out = Output(json_mode=True, stream=stream, terminal=True)
    out.line("not this")
    out.table("nor this", ["a"], [["b"]])
    out.document(DOC)
    assert json.loads(stream.getvalue()) == DOC
