"""The benchmark's pure helpers: formatting, accounting, call counting. No timing is asserted."""

from __future__ import annotations

from typing import Any

import pytest

from bench.accounting import OTHER, split_self_time
from bench.artifact import top_level
from bench.calllog import CallLog, answer_is_final, request_digest
from bench.common import TEMPLATE_DEFAULT_ENV, Figure, function_env, median
from bench.figures import calls_figures, scale_figures, waiting_figures, waiting_target


def test_figure_line_has_value_target_baseline_and_verdict() -> None:
    assert Figure("x", "1 s", "<= 2 s", "0.5 s", True).line() == (
        "x: 1 s (target: <= 2 s, baseline: 0.5 s, PASS)"
    )
    assert Figure("x", "3 s", "<= 2 s", "0.5 s", False).line().endswith("FAIL)")
    assert Figure("x", "3 s", "none", "0.5 s", None).line().endswith("INFO)")


def test_median_of_an_even_count_and_of_nothing() -> None:
    assert median([1.0, 3.0, 2.0, 10.0]) == 2.5
    with pytest.raises(ValueError, match="no samples"):
        median([])


def test_function_env_drops_the_callers_settings_and_sets_the_templates() -> None:
    env = function_env({"WAIT_MAX_INTERVAL_SECONDS": "0.05", "HOME": "/root"}, EXTRA="1")
    assert "WAIT_MAX_INTERVAL_SECONDS" not in env
    assert env["HOME"] == "/root"
    assert env["EXTRA"] == "1"
    for name, value in TEMPLATE_DEFAULT_ENV.items():
        assert env[name] == value
    assert env["TRACING_ENABLED"] == "false"


def _owner(filename: str) -> str | None:
    return {"/r/rotation.py": "handler", "/b/botocore.py": "boto"}.get(filename)


def test_standard_library_time_is_charged_to_its_callers_in_proportion() -> None:
    handler = ("/r/rotation.py", 1, "step")
    boto = ("/b/botocore.py", 1, "call")
    json_loads = ("~", 0, "<built-in method loads>")
    stats: dict[Any, tuple[Any, ...]] = {
        handler: (1, 1, 1.0, 5.0, {}),
        boto: (1, 1, 2.0, 4.0, {}),
        # 3 s of self time: 1 s under handler, 2 s under botocore.
        json_loads: (2, 2, 3.0, 3.0, {handler: (1, 1, 1.0, 1.0), boto: (1, 1, 2.0, 2.0)}),
    }
    split = split_self_time(stats, _owner)
    assert split["handler"] == pytest.approx(2.0)
    assert split["boto"] == pytest.approx(4.0)
    assert OTHER not in split


def test_time_that_reaches_no_known_owner_is_other_and_cycles_terminate() -> None:
    a = ("/lib/a.py", 1, "a")
    b = ("/lib/b.py", 1, "b")
    stats: dict[Any, tuple[Any, ...]] = {
        a: (1, 1, 1.0, 1.0, {b: (1, 1, 1.0, 1.0)}),
        b: (1, 1, 1.0, 1.0, {a: (1, 1, 1.0, 1.0)}),
    }
    assert split_self_time(stats, _owner) == pytest.approx({OTHER: 2.0})


def test_request_digest_tells_parameters_apart_and_is_not_the_body() -> None:
    one = request_digest("GetSecretValue", {"url_path": "/", "body": b'{"VersionStage":"A"}'})
    two = request_digest("GetSecretValue", {"url_path": "/", "body": b'{"VersionStage":"B"}'})
    assert one != two
    assert "VersionStage" not in one
    assert one == request_digest(
        "GetSecretValue", {"url_path": "/", "body": '{"VersionStage":"A"}'}
    )


def test_a_poll_of_a_modifying_user_is_not_final() -> None:
    assert not answer_is_final("DescribeUsers", {"Users": [{"Status": "modifying"}]})
    assert answer_is_final("DescribeUsers", {"Users": [{"Status": "active"}]})
    assert answer_is_final("GetSecretValue", {})


def test_call_log_counts_repeats_within_an_invocation_only() -> None:
    log = CallLog()
    same = {"url_path": "/", "body": b"{}"}
    log.start_invocation("testSecret")
    for _ in range(2):  # polls while modifying: not repeats
        context: dict[str, Any] = {}
        log.before_call("DescribeUsers", same, context)
        log.after_call("DescribeUsers", {"Users": [{"Status": "modifying"}]}, context)
    context = {}
    log.before_call("DescribeUsers", same, context)
    log.after_call("DescribeUsers", {"Users": [{"Status": "active"}]}, context)
    log.before_call("DescribeUsers", same, {})  # the active answer would have served
    log.start_invocation("finishSecret")
    log.before_call("DescribeUsers", same, {})  # a new invocation must read again
    steps = log.per_step()
    assert steps["testSecret"].calls["DescribeUsers"] == 4
    assert steps["testSecret"].repeated["DescribeUsers"] == 1
    assert steps["finishSecret"].repeated["DescribeUsers"] == 0


def test_waiting_figures_judge_every_run_against_1_15_d_plus_1() -> None:
    assert waiting_target(30) == pytest.approx(35.5)
    sample = {"succeeded": True, "polls": 4}
    good, bad = waiting_figures(
        {
            "1.0": [{**sample, "seconds": 1.1}, {**sample, "seconds": 2.1}],
            "5.0": [{**sample, "seconds": 5.2}, {**sample, "seconds": 6.8}],
        }
    )
    assert good.passed
    assert not bad.passed  # one run over 6.75 s fails the figure


def test_calls_figures_fail_on_a_repeat_or_a_count_the_sandbox_disagrees_with() -> None:
    result: dict[str, Any] = {
        "succeeded": True,
        "invocations": 1,
        "served_by_sandbox": 2,
        "steps": {"createSecret": {"calls": {"DescribeSecret": 2}, "repeated": {}}},
    }
    assert all(f.passed for f in calls_figures(result))
    result["served_by_sandbox"] = 3
    assert not calls_figures(result)[-1].passed
    result["served_by_sandbox"] = 2
    result["steps"]["createSecret"]["repeated"] = {"DescribeSecret": 1}
    assert not any(f.passed for f in calls_figures(result))


def test_scale_figures_are_reported_not_judged() -> None:
    split = {"handler code (rotation/)": 1.0, "boto3/botocore": 2.0, "moto": 1.0, "redis-py": 1.0}
    figures = scale_figures(
        {
            "rotations": 4,
            "cpu_per_rotation": [0.05, 0.05, 0.06, 0.06],
            "split_before": split,
            "split_after": split,
            "profiled_rotations": 2,
            "secret_versions_at_end": 10,
        }
    )
    assert [f.passed for f in figures] == [None, None]
    assert figures[0].value.startswith("11.0 ms")  # a fifth of 55 ms
    assert "redis-py 11.0 ms" in figures[1].value


def test_top_level_names_skip_dist_info() -> None:
    names = ["redis/__init__.py", "redis-8.1.0.dist-info/RECORD", "typing_extensions.py"]
    assert top_level(names) == {"redis", "typing_extensions"}


class _Raw:
    """The body botocore reads from a canned HTTP response."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def test_install_counts_calls_of_clients_from_any_session() -> None:
    # The adapters build their own boto3 sessions: a hook on the default session saw nothing.
    import boto3
    from botocore.awsrequest import AWSResponse, HTTPHeaders

    log = CallLog()
    uninstall = log.install()
    try:
        client = boto3.session.Session().client(
            "secretsmanager",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    finally:
        uninstall()

    def answer(request: Any, **_: Any) -> Any:
        # Answered before anything is sent: no network.
        return AWSResponse(request.url, 200, HTTPHeaders(), _Raw(b'{"Name": "s"}'))

    client.meta.events.register("before-send", answer)
    log.start_invocation("createSecret")
    for _ in range(2):
        client.describe_secret(SecretId="s")
    calls = log.per_step()["createSecret"]
    assert calls.calls["DescribeSecret"] == 2
    assert calls.repeated["DescribeSecret"] == 1
