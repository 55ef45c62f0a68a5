"""Text output: Rich tables and colour on a terminal, plain lines when piped.

Every text report is drawn from the same document `--json` prints, so the two cannot disagree and
neither can hold more than the document does (fingerprints, never passwords).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

_STYLE = {"pass": "green", "fail": "red", "cannot-check": "yellow", "not-deployed": "cyan"}
_MARK = {
    "pass": "PASS",
    "fail": "FAIL",
    "cannot-check": "CANNOT CHECK",
    "not-deployed": "NOT DEPLOYED",
}


class Output:
    def __init__(
        self, *, json_mode: bool, stream: TextIO | None = None, terminal: bool | None = None
    ) -> None:
        """`terminal` None: ask the stream (Rich's detection, which honours NO_COLOR)."""
        self.json_mode = json_mode
        self.console = Console(
            file=stream or sys.stdout, highlight=False, soft_wrap=True, force_terminal=terminal
        )

    @property
    def rich(self) -> bool:
        return self.console.is_terminal and not self.json_mode

    def document(self, doc: dict[str, Any]) -> None:
        self.console.file.write(json.dumps(doc, indent=2, default=str) + "\n")
        self.console.file.flush()

    def line(self, text: str, style: str | None = None) -> None:
        if self.json_mode:
            return
        if self.rich:
            self.console.print(text, style=style)
        else:
            self.console.file.write(text + "\n")

    def table(self, title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if self.json_mode:
            return
        if self.rich:
            table = Table(title=title, title_justify="left", show_lines=False)
            for header in headers:
                table.add_column(header)
            for row in rows:
                table.add_row(*(_cell(v) for v in row))
            self.console.print(table)
            return
        self.line(f"{title}:")
        for row in rows:
            self.line(
                "  " + "  ".join(f"{h}={_cell(v)}" for h, v in zip(headers, row, strict=True))
            )
        if not rows:
            self.line("  (none)")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "-"
    return str(value)


def verdict(out: Output, doc: dict[str, Any]) -> None:
    v = doc["verdict"]
    style = "green" if doc["exit_code"] == 0 else "red"
    out.line(f"verdict: {v['code']}: {v['message']}", style=style)
    if v.get("next"):
        out.line(f"next: {v['next']}")


def status(out: Output, doc: dict[str, Any]) -> None:
    secret = doc["secret"]
    schedule = secret["schedule"]
    out.table(
        "rotation",
        ["secret", "enabled", "schedule", "window", "last", "next", "function"],
        [
            [
                secret["name"],
                secret["rotation_enabled"],
                schedule["expression"] or _days(schedule["automatically_after_days"]),
                schedule["window"],
                secret["last_rotated"],
                secret["next_rotation"],
                secret["function_arn"],
            ]
        ],
    )
    out.table(
        "versions",
        ["version", "labels", "created", "fingerprint", "note"],
        [
            [v["id"], v["stages"], v["created"], v["fingerprint"], v["problem"]]
            for v in doc["versions"]
        ],
    )
    if doc["pending"]:
        out.line(f"AWSPENDING on {doc['pending']['version']} since {doc['pending']['since']}")
    user = doc["user"]
    if user:
        out.table(
            "user",
            ["name", "status", "PasswordCount", "ACLs"],
            [[user["name"], user["status"], user["password_count"], user["acls"]]],
        )
    out.table(
        "clusters and nodes",
        ["cluster", "ACL", "endpoint", "TLS", "nodes"],
        [
            [c["name"], c["acl"], c["endpoint"], c["tls"], [n["name"] for n in c["nodes"]]]
            for c in doc["clusters"]
        ],
    )
    if doc["probe"] is not None:
        out.table(
            "probe (which password authenticates where)",
            ["label", "fingerprint", "accepted on", "refused on", "unreachable"],
            [
                [p["stage"], p["fingerprint"], p["accepted"], p["rejected"], p["unreachable"]]
                for p in doc["probe"]
            ],
        )
    if doc["scheduled_drop"]:
        drop = doc["scheduled_drop"]
        due = drop.get("at") or drop["expression"]
        out.line(
            f"scheduled drop of the old password: {drop['name']}, due {due}, "
            f"state {drop.get('state') or '-'}"
        )
    last = doc.get("last_step")
    if last:
        what = f"failed: {last['error']}: {last['reason']}" if last["failed"] else "succeeded"
        out.line(f"the function's last step for AWSPENDING: {last['step']} {what} ({last['at']})")
    unknown(out, doc)
    verdict(out, doc)


def unknown(out: Output, doc: dict[str, Any]) -> None:
    for item in doc.get("cannot_check", []):
        out.line(f"cannot check {item['what']}: {item['why']}", style="yellow")


def doctor(out: Output, doc: dict[str, Any]) -> None:
    for check in doc["checks"]:
        mark = _MARK[check["result"]]
        out.line(f"{mark:<13} {check['title']}: {check['detail']}", style=_STYLE[check["result"]])
        if check.get("fix"):
            out.line(f"{'':<13}   fix: {check['fix']}")
    counts = doc["summary"]
    out.line(
        f"{counts['pass']} pass, {counts['fail']} fail, {counts['cannot-check']} cannot check, "
        f"{counts['not-deployed']} not deployed yet"
    )
    verdict(out, doc)


def repair(out: Output, doc: dict[str, Any]) -> None:
    for finding in doc["findings"]:
        out.line(f"- {finding['problem']}", style="red" if finding["problem"] else None)
        out.line(f"  plan: {finding['plan']}")
        if finding["manual_steps"]:
            out.line("  manual steps:")
            for step in finding["manual_steps"]:
                out.line(f"    {step}")
        if finding["applied"] is not None:
            out.line(f"  applied: {finding['applied']}")
    verdict(out, doc)


def _days(days: Any) -> str | None:
    return f"every {days} days" if days else None
