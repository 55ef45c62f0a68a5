"""The `memorydb-rotation` console script: status, rotate, repair, doctor, history, list.

Exit codes: 0 healthy / done; 1 a problem found or the action failed; 2 usage or access errors.
`--json` prints one JSON document on stdout and nothing else there (docs/cli.md).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from memorydb_rotation_cli import render
from memorydb_rotation_cli.aws import Aws, CliError
from memorydb_rotation_cli.documents import schema_name
from memorydb_rotation_cli.render import Output
from memorydb_rotation_cli.state import Inspector

app = typer.Typer(
    name="memorydb-rotation",
    help="Inspect, rotate, repair and check a MemoryDB user's rotated secret.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    # Plain Click help: no <bool> beside every flag, and the same text on a terminal or a pipe.
    rich_markup_mode=None,
)

SecretArg = Annotated[str, typer.Argument(help="The secret's name or ARN.", show_default=False)]


def _json_option(command: str) -> Any:
    # metavar="": a flag takes no value, so its help shows none (Typer would print <bool>).
    return typer.Option(
        "--json",
        help="One JSON document on stdout, nothing else. Its JSON Schema (draft 2020-12) "
        f"ships in the package memorydb_rotation_cli as {schema_name(command)} (docs/cli.md).",
        metavar="",
    )


ProfileOpt = Annotated[
    str | None, typer.Option("--profile", envvar="AWS_PROFILE", help="AWS profile.")
]
RegionOpt = Annotated[str | None, typer.Option("--region", envvar="AWS_REGION", help="AWS region.")]
CaOpt = Annotated[
    Path | None,
    typer.Option(
        "--ca-bundle",
        envvar="MEMORYDB_ROTATION_CA_BUNDLE",
        help="PEM bundle that alone verifies the nodes' certificates (default: the system store).",
        exists=True,
        dir_okay=False,
    ),
]
TimeoutOpt = Annotated[
    float, typer.Option("--connect-timeout", help="Seconds per node connection.", min=0.1)
]
StaleOpt = Annotated[
    float,
    typer.Option(
        "--stale-after",
        help="Seconds after which an AWSPENDING on another version is a failed rotation.",
        min=0,
    ),
]

ModifyingOpt = Annotated[
    float,
    typer.Option(
        "--modifying-after",
        help="Seconds a user may stay 'modifying' before it counts as stuck.",
        min=0,
    ),
]

ACCESS = 2


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("memorydb-rotation")
        except PackageNotFoundError:
            number = "unknown (not installed)"
        typer.echo(f"memorydb-rotation {number}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            callback=_version,
            is_eager=True,
            metavar="",
        ),
    ] = False,
) -> None:
    """Inspect, rotate, repair and check a MemoryDB user's rotated secret."""


Document = dict[str, Any]
Renderer = Callable[[Output, Document], None]


def _run(command: str, json_mode: bool, body: Callable[[Output], Document], text: Renderer) -> None:
    """Build the command's document, print it (JSON, or `text`), exit with its exit code; an
    access or usage error becomes the error document and exit code 2."""
    out = Output(json_mode=json_mode)
    try:
        doc = body(out)
        if out.json_mode:
            out.document(doc)
        else:
            text(out, doc)
        code = int(doc["exit_code"])
    except CliError as exc:
        if json_mode:
            out.document({"command": command, "error": str(exc), "exit_code": ACCESS})
        else:
            typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(ACCESS) from None
    raise typer.Exit(code)


def _inspector(profile: str | None, region: str | None) -> Inspector:
    return Inspector(Aws.from_chain(profile=profile, region=region))


@app.command()
def status(
    secret: SecretArg,
    probe: Annotated[
        bool,
        typer.Option(
            "--probe", help="Connect: which labelled password works on each node.", metavar=""
        ),
    ] = False,
    json_: Annotated[bool, _json_option("status")] = False,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    ca_bundle: CaOpt = None,
    connect_timeout: TimeoutOpt = 5.0,
    stale_after: StaleOpt = 3600.0,
    modifying_after: ModifyingOpt = 600.0,
) -> None:
    """Rotation settings, versions and labels, the user, its clusters and nodes, one verdict."""
    from memorydb_rotation_cli import status as status_command

    def body(out: Output) -> Document:
        inspector = _inspector(profile, region)
        verifier = status_command.make_verifier(ca_bundle, connect_timeout) if probe else None
        return status_command.run(
            inspector,
            secret,
            probe_with=verifier,
            timeout=connect_timeout,
            stale_after=stale_after,
            modifying_after=modifying_after,
        )

    _run("status", json_, body, render.status)


@app.command()
def rotate(
    secret: SecretArg,
    follow: Annotated[
        bool,
        typer.Option("--follow", help="Show each step until the rotation ends.", metavar=""),
    ] = False,
    json_: Annotated[bool, _json_option("rotate")] = False,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds --follow waits at most.", min=1)
    ] = 1800.0,
    retry_wait: Annotated[
        float,
        typer.Option(
            "--retry-wait",
            help="Seconds --follow waits after a failed step for Secrets Manager's retry (it "
            "retries a failed rotation, at intervals it does not document): when the function "
            "logs nothing more for the rotation in that time and its version still holds "
            "AWSPENDING, the rotation counts as failed. A refusal ends it at once.",
            min=0,
        ),
    ] = 300.0,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Retry the unfinished rotation: RotateSecret with its pending version's id as "
            "ClientRequestToken.",
            metavar="",
        ),
    ] = False,
) -> None:
    """Start a rotation (RotateSecret); with --follow, watch it to the end.

    --follow ends when the rotation ends: succeeded (exit 0); failed (exit 1) on a refusal at
    once, or on a failure that no retry follows within --retry-wait; abandoned (exit 1) when
    its version loses AWSPENDING without becoming AWSCURRENT; or at --timeout (exit 1).
    """
    from memorydb_rotation_cli import rotate as rotate_command

    def body(out: Output) -> Document:
        aws = Aws.from_chain(profile=profile, region=region)
        return rotate_command.run(
            aws,
            secret,
            follow=follow,
            timeout=timeout,
            out=out,
            resume=resume,
            retry_wait=retry_wait,
        )

    _run("rotate", json_, body, rotate_command.render)


@app.command()
def repair(
    secret: SecretArg,
    apply: Annotated[
        bool, typer.Option("--apply", help="Do what the plan says.", metavar="")
    ] = False,
    json_: Annotated[bool, _json_option("repair")] = False,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    ca_bundle: CaOpt = None,
    connect_timeout: TimeoutOpt = 5.0,
    stale_after: StaleOpt = 3600.0,
    remove_unknown: Annotated[
        str | None,
        typer.Option(
            "--remove-unknown",
            metavar="sha256:XXXXXXXX",
            help="Also remove the second password though no labelled version accounts for "
            "it; name it by its fingerprint.",
        ),
    ] = None,
) -> None:
    """Explain what is wrong and what would make it safe; act only with --apply."""
    from memorydb_rotation_cli import repair as repair_command
    from memorydb_rotation_cli import status as status_command

    def body(out: Output) -> Document:
        inspector = _inspector(profile, region)
        verifier = status_command.make_verifier(ca_bundle, connect_timeout)
        return repair_command.run(
            inspector,
            secret,
            verifier=verifier,
            apply=apply,
            timeout=connect_timeout,
            stale_after=stale_after,
            remove_unknown=remove_unknown,
        )

    _run("repair", json_, body, render.repair)


@app.command()
def doctor(
    secret: SecretArg,
    function: Annotated[
        str | None,
        typer.Option("--function", help="The rotation function (default: the secret's)."),
    ] = None,
    role: Annotated[
        str | None,
        typer.Option(
            "--role",
            metavar="ARN",
            help="Planned: the role the function will run as (role-permissions, kms-key).",
        ),
    ] = None,
    subnets: Annotated[
        str | None,
        typer.Option(
            "--subnets",
            metavar="ID,ID",
            help="Planned: the function's subnets (network-cluster-port, network-aws-apis).",
        ),
    ] = None,
    security_groups: Annotated[
        str | None,
        typer.Option(
            "--security-groups",
            metavar="ID,ID",
            help="Planned: the function's security groups (with --subnets).",
        ),
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            metavar="keep|drop|drop-after",
            help="Planned: OLD_PASSWORD_POLICY (default drop); drop-after adds the Scheduler "
            "checks.",
        ),
    ] = None,
    schedule_group: Annotated[
        str | None,
        typer.Option(
            "--schedule-group",
            metavar="NAME",
            help="Planned, with --policy drop-after: the schedule group for the drops.",
        ),
    ] = None,
    scheduler_role: Annotated[
        str | None,
        typer.Option(
            "--scheduler-role",
            metavar="ARN",
            help="Planned, with --policy drop-after: the role EventBridge Scheduler assumes.",
        ),
    ] = None,
    json_: Annotated[bool, _json_option("doctor")] = False,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    ca_bundle: CaOpt = None,
    connect_timeout: TimeoutOpt = 5.0,
) -> None:
    """Read-only pre-flight checklist, one line per check, with a fix for every failure.

    Runs before the function is deployed too: the checks that need it say "not deployed yet"
    (not a pass) and the verdict is ready-to-deploy (exit 0) when everything else passes.
    The planned options describe the deployment to come: the role, network and KMS checks run
    against them and say "planned:" in their detail. Once the function exists they must agree
    with it (else exit 2).
    """
    from memorydb_rotation_cli import doctor as doctor_command
    from memorydb_rotation_cli import status as status_command

    def body(out: Output) -> Document:
        planned = doctor_command.Planned.parse(
            role=role,
            subnets=subnets,
            security_groups=security_groups,
            policy=policy,
            schedule_group=schedule_group,
            scheduler_role=scheduler_role,
        )
        inspector = _inspector(profile, region)
        verifier = status_command.make_verifier(ca_bundle, connect_timeout)
        return doctor_command.run(
            inspector,
            secret,
            function=function,
            verifier=verifier,
            connect_timeout=connect_timeout,
            planned=planned,
        )

    _run("doctor", json_, body, render.doctor)


@app.command()
def history(
    secret: SecretArg,
    days: Annotated[
        float, typer.Option("--days", help="How far back to read the function's log.", min=0)
    ] = 30.0,
    json_: Annotated[bool, _json_option("history")] = False,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
) -> None:
    """The secret's rotations from the function's log group: when, outcome, which step failed."""
    from memorydb_rotation_cli import history as history_command

    def body(out: Output) -> Document:
        return history_command.run(_inspector(profile, region), secret, days=days)

    _run("history", json_, body, history_command.render)


@app.command("list")
def list_(
    function: Annotated[
        str,
        typer.Argument(help="The rotation function's name or ARN.", show_default=False),
    ],
    json_: Annotated[bool, _json_option("list")] = False,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
) -> None:
    """Every secret the function rotates (RotationLambdaARN, from ListSecrets), with its state."""
    from memorydb_rotation_cli import list_command

    def body(out: Output) -> Document:
        return list_command.run(Aws.from_chain(profile=profile, region=region), function)

    _run("list", json_, body, list_command.render)


def main(argv: list[str] | None = None) -> int:
    """The console script; returns the exit code when called from Python (the demo does)."""
    try:
        app(args=argv, prog_name="memorydb-rotation", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
