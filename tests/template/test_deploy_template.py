"""template.yaml as code: the handler, the environment against the settings model, the parameter
bounds, the timeout against the wait budget, the runtime, and what the tracer may capture.

Each check is a function returning its problems; every test that runs one on the real template
has a partner that breaks a copy of the template and expects the same check to complain.
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

import annotated_types
import pytest

from rotation.errors import SettingsError
from rotation.settings import ENV_VARS, Settings

from .cfn import EVERYTHING_ON, REQUIRED, ROOT, Evaluator

FUNCTION = "RotationFunction"
LAMBDA_MAX_TIMEOUT = 900
TIMEOUT_MARGIN_SECONDS = 30  # API calls and AUTH checks around the longest wait
# The Powertools variables the template may set, and the values that keep secrets out of traces
# and logs whatever else changes.
POWERTOOLS_REQUIRED = {
    "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
    "POWERTOOLS_LOGGER_LOG_EVENT": "false",
}
POWERTOOLS_ALLOWED = {
    *POWERTOOLS_REQUIRED,
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
    "POWERTOOLS_TRACE_DISABLED",
}


def _function(template: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = template["Resources"][FUNCTION]["Properties"]
    return properties


def _variables(template: dict[str, Any]) -> dict[str, Any]:
    variables: dict[str, Any] = _function(template)["Environment"]["Variables"]
    return variables


# --- the handler -------------------------------------------------------------------------------


def handler_problems(template: dict[str, Any]) -> list[str]:
    function = _function(template)
    module_name, _, attribute = function["Handler"].rpartition(".")
    if function["CodeUri"] != ".":
        return [f"CodeUri is {function['CodeUri']!r}; the build packages the project root"]
    if module_name.split(".")[0] != "rotation":
        return [f"{module_name} is outside rotation/, the only package the build ships"]
    if not (ROOT / (module_name.replace(".", "/") + ".py")).is_file():
        return [f"{module_name} has no source file under {ROOT}"]
    module = importlib.import_module(module_name)
    handler = getattr(module, attribute, None)
    if not callable(handler):
        return [f"{module_name} has no callable {attribute}"]
    if len(inspect.signature(handler).parameters) != 2:
        return [f"{function['Handler']} does not take (event, context)"]
    return []


def test_the_handler_path_resolves_to_the_real_function(template: dict[str, Any]) -> None:
    assert handler_problems(template) == []


@pytest.mark.parametrize(
    "handler",
    [
        "rotation.handler.handler_that_does_not_exist",
        "rotation.no_such_module.lambda_handler",
        "tests.template.conftest.template",
        "rotation.settings.ENV_VARS",
    ],
)
def test_a_wrong_handler_path_is_caught(template: dict[str, Any], handler: str) -> None:
    _function(template)["Handler"] = handler

    assert handler_problems(template)


# --- the environment against the settings model ----------------------------------------------


def environment_problems(template: dict[str, Any]) -> list[str]:
    variables = _variables(template)
    settings_keys = {key for key in variables if not key.startswith("POWERTOOLS_")}
    problems = [f"{key} is not read by rotation.settings" for key in settings_keys - set(ENV_VARS)]
    problems += [f"{key} is read by the code but not set" for key in set(ENV_VARS) - settings_keys]
    powertools = {key for key in variables if key.startswith("POWERTOOLS_")}
    problems += [
        f"{key} is not a variable we set on purpose" for key in powertools - POWERTOOLS_ALLOWED
    ]
    problems += [
        f"{key} must be {value!r}"
        for key, value in POWERTOOLS_REQUIRED.items()
        if variables.get(key) != value
    ]
    return problems


def test_the_environment_matches_the_settings_model(template: dict[str, Any]) -> None:
    assert environment_problems(template) == []


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("remove", "WAIT_TIMEOUT_SECONDS"),
        ("add", "PASSWORD_LEN"),
        ("add", "POWERTOOLS_LOGGER_SAMPLE_RATE"),
        ("set", ("POWERTOOLS_TRACER_CAPTURE_RESPONSE", "true")),
        ("set", ("POWERTOOLS_LOGGER_LOG_EVENT", "true")),
        ("remove", "POWERTOOLS_TRACER_CAPTURE_RESPONSE"),
    ],
)
def test_an_environment_drift_is_caught(template: dict[str, Any], change: str, value: Any) -> None:
    variables = _variables(template)
    if change == "remove":
        del variables[value]
    elif change == "add":
        variables[value] = "1"
    else:
        variables[value[0]] = value[1]

    assert environment_problems(template)


def test_the_bad_fixture_environment_is_caught(bad_template: dict[str, Any]) -> None:
    assert environment_problems(bad_template)


def _settings_parameters(template: dict[str, Any]) -> dict[str, str]:
    """Environment variable -> the parameter that sets it."""
    return {
        key: value["Ref"]
        for key, value in _variables(template).items()
        if key in ENV_VARS and isinstance(value, dict) and "Ref" in value
    } | {"CA_BUNDLE_PATH": "CaBundlePath"}


def defaults_problems(template: dict[str, Any]) -> list[str]:
    """The template's defaults must be the model's: the template cannot quietly differ."""
    environment = Evaluator(template, REQUIRED).resolve(_variables(template))
    from_template = Settings.from_env(environment)
    from_model = Settings.from_env({"ROTATION_ALLOWED_USERS": REQUIRED["RotatableUsers"]})
    return [
        f"{name}: template default {getattr(from_template, name)!r}, "
        f"model default {getattr(from_model, name)!r}"
        for name in Settings.model_fields
        if getattr(from_template, name) != getattr(from_model, name)
    ]


def test_the_parameter_defaults_are_the_settings_defaults(template: dict[str, Any]) -> None:
    assert defaults_problems(template) == []


def test_a_default_that_differs_from_the_model_is_caught(template: dict[str, Any]) -> None:
    template["Parameters"]["PasswordLength"]["Default"] = 33

    assert defaults_problems(template) == ["password_length: template default 33, model default 32"]


# What the template sets beside OLD_PASSWORD_POLICY=drop-after (its own schedule group and
# scheduler role; test_deploy_grace.py checks that it does), stood in by valid values.
DROP_AFTER_TARGET = {
    "SCHEDULE_GROUP_NAME": "stack-DropScheduleGroup-1A2B3C",
    "SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/stack-DropSchedulerRole-1A2B3C",
}


def bounds_problems(template: dict[str, Any]) -> list[str]:
    """Whatever the parameters' constraints let through, the settings model must accept: all
    parameters at their minimum, all at their maximum, and every allowed value."""
    problems = []
    parameters = template["Parameters"]
    mapping = _settings_parameters(template)
    lowest: dict[str, str] = {}
    highest: dict[str, str] = {}
    candidates: list[dict[str, str]] = []
    for variable, name in mapping.items():
        definition = parameters[name]
        if definition["Type"] == "Number":
            if "AllowedValues" in definition:
                candidates += [{variable: str(value)} for value in definition["AllowedValues"]]
            elif "MinValue" not in definition or "MaxValue" not in definition:
                problems.append(f"{name} has no MinValue/MaxValue")
                continue
            else:
                lowest[variable] = str(definition["MinValue"])
                highest[variable] = str(definition["MaxValue"])
        elif "AllowedValues" in definition:
            candidates += [{variable: str(value)} for value in definition["AllowedValues"]]
        elif "AllowedPattern" not in definition and name != "CaBundlePath":
            problems.append(f"{name} has no constraint at all")
    for environment in (lowest, highest, *candidates):
        try:
            Settings.from_env(
                {**DROP_AFTER_TARGET, "ROTATION_ALLOWED_USERS": "app-user", **environment}
            )
        except SettingsError as exc:
            problems.append(f"{environment}: {exc}")
    return problems


def test_every_value_the_parameters_allow_is_a_valid_setting(template: dict[str, Any]) -> None:
    assert bounds_problems(template) == []


@pytest.mark.parametrize(
    ("parameter", "key", "value"),
    [
        ("WaitTimeoutSeconds", "MaxValue", 841),
        ("PasswordLength", "MinValue", 8),
        ("OldPasswordPolicy", "AllowedValues", ["drop", "keep", "never"]),
        ("TracingEnabled", "AllowedValues", ["false", "true", "maybe"]),
        ("WaitTimeoutSeconds", "MaxValue", None),
    ],
)
def test_a_parameter_constraint_looser_than_the_model_is_caught(
    template: dict[str, Any], parameter: str, key: str, value: Any
) -> None:
    if value is None:
        del template["Parameters"][parameter][key]
    else:
        template["Parameters"][parameter][key] = value

    assert bounds_problems(template)


# --- the timeout against the wait budget -------------------------------------------------------


def _model_wait_limit() -> float:
    for constraint in Settings.model_fields["wait_timeout_seconds"].metadata:
        if isinstance(constraint, annotated_types.Le):
            return float(constraint.le)  # type: ignore[arg-type]
    raise AssertionError("wait_timeout_seconds has no upper bound")


def timeout_problems(template: dict[str, Any]) -> list[str]:
    timeout = _function(template)["Timeout"]
    deployable = float(template["Parameters"]["WaitTimeoutSeconds"]["MaxValue"])
    longest_wait = max(_model_wait_limit(), deployable)
    problems = []
    if not isinstance(timeout, int) or timeout > LAMBDA_MAX_TIMEOUT:
        problems.append(f"Timeout {timeout!r} is not a whole number of seconds up to 900")
    elif timeout < longest_wait + TIMEOUT_MARGIN_SECONDS:
        problems.append(
            f"Timeout {timeout} leaves less than {TIMEOUT_MARGIN_SECONDS} s "
            f"after a {longest_wait} s wait"
        )
    return problems


def test_the_timeout_exceeds_the_longest_wait_plus_a_margin(template: dict[str, Any]) -> None:
    assert _model_wait_limit() == 840
    assert timeout_problems(template) == []


@pytest.mark.parametrize(("timeout", "max_wait"), [(600, 840), (860, 840), (900, 880), (901, 840)])
def test_a_timeout_too_close_to_the_wait_budget_is_caught(
    template: dict[str, Any], timeout: int, max_wait: int
) -> None:
    _function(template)["Timeout"] = timeout
    template["Parameters"]["WaitTimeoutSeconds"]["MaxValue"] = max_wait

    assert timeout_problems(template)


def test_the_bad_fixture_timeout_is_caught(bad_template: dict[str, Any]) -> None:
    bad_template["Parameters"] = {"WaitTimeoutSeconds": {"MaxValue": 840}}

    assert timeout_problems(bad_template)


# --- runtime, architecture, memory, logs --------------------------------------------------------


def runtime_problems(template: dict[str, Any]) -> list[str]:
    function = _function(template)
    makefile = (ROOT / "mk" / "deploy.mk").read_text()
    built_for = re.search(r"(?m)^LAMBDA_PYTHON := (\d+\.\d+)$", makefile)
    platforms = re.search(r"(?m)^LAMBDA_PLATFORMS := (.+)$", makefile)
    runtime = re.fullmatch(r"python3\.(\d+)", str(function["Runtime"]))
    problems = []
    if runtime is None or int(runtime.group(1)) < 12:
        problems.append(f"Runtime {function['Runtime']} is not Python 3.12 or newer")
    if function.get("Architectures") != ["arm64"]:
        problems.append(f"Architectures {function.get('Architectures')} is not [arm64]")
    if built_for is None or f"python{built_for.group(1)}" != function["Runtime"]:
        problems.append("mk/deploy.mk builds the wheels for another Python than the Runtime")
    if platforms is None or not all(p.endswith("_aarch64") for p in platforms.group(1).split()):
        problems.append("mk/deploy.mk builds the wheels for another architecture than arm64")
    return problems


def test_a_current_python_on_arm64_built_for_that_runtime(template: dict[str, Any]) -> None:
    assert runtime_problems(template) == []


@pytest.mark.parametrize(
    ("key", "value"),
    [("Runtime", "python3.11"), ("Runtime", "python3.12"), ("Architectures", ["x86_64"])],
)
def test_a_runtime_the_build_does_not_target_is_caught(
    template: dict[str, Any], key: str, value: Any
) -> None:
    _function(template)[key] = value

    assert runtime_problems(template)


def test_memory_defaults_to_the_measured_128_mb(template: dict[str, Any]) -> None:
    function = _function(template)

    assert function["MemorySize"] == {"Ref": "MemorySize"}
    assert template["Parameters"]["MemorySize"]["Default"] == 512


def test_the_function_logs_to_its_own_group_with_a_retention(template: dict[str, Any]) -> None:
    function = Evaluator(template, REQUIRED).resolve(_function(template))
    log_group = Evaluator(template, REQUIRED).resolve(template["Resources"]["LogGroup"])

    assert function["LoggingConfig"] == {"LogGroup": "<Ref LogGroup>"}
    assert log_group["Properties"]["RetentionInDays"] == "365"
    assert "RetentionInDays" in template["Resources"]["LogGroup"]["Properties"]


def test_tracing_is_opt_in_and_follows_the_setting(template: dict[str, Any]) -> None:
    off = Evaluator(template, REQUIRED).resolve(_function(template))
    on = Evaluator(template, EVERYTHING_ON).resolve(_function(template))

    assert off["Tracing"] == "PassThrough"
    assert off["Environment"]["Variables"]["TRACING_ENABLED"] == "false"
    assert off["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert on["Tracing"] == "Active"
    assert on["Environment"]["Variables"]["TRACING_ENABLED"] == "true"
    assert on["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"] == "false"


def test_optional_settings_are_left_unset_rather_than_empty(template: dict[str, Any]) -> None:
    without = Evaluator(template, REQUIRED).resolve(_variables(template))
    with_bundle = Evaluator(template, EVERYTHING_ON).resolve(_variables(template))

    assert "CA_BUNDLE_PATH" not in without
    assert with_bundle["CA_BUNDLE_PATH"] == "/opt/ca/bundle.pem"
    assert "VpcConfig" not in Evaluator(template, REQUIRED).resolve(_function(template))
