"""`coflex compliance`: the compliance report, the plan and the drift check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from coflex.entrypoints.cli import DatabaseOption, _fail, console
from coflex.entrypoints.cli_complaints import AtOption, ByOption, parse_at, run_step
from coflex.errors import CoflexError

app = typer.Typer(
    help="Compliance with the Code: report, plan and drift.", no_args_is_help=True
)


@app.command("report")
def report(
    output: Annotated[Path, typer.Option(help="Folder for compliance.json and .html.")],
    at: AtOption = None,
    database: DatabaseOption = None,
) -> None:
    """Check every provision over the stored records; exit 1 if any check fails."""
    from coflex.services import compliance

    when = parse_at(at)
    result = run_step(database, lambda s: compliance.evaluate(s, when))
    try:
        compliance.write_report(result, output)
    except CoflexError as error:
        _fail(error)
    for entry in result["provisions"]:
        console.print(
            f"{entry['section']}. {entry['heading']}: {entry['status']} "
            f"({entry['evidence']} records)",
            highlight=False,
        )
    console.print(f"Wrote {output / 'compliance.json'} and compliance.html")
    if any(entry["status"] == "fail" for entry in result["provisions"]):
        raise typer.Exit(1)


@app.command("plan")
def plan(
    output: Annotated[Path, typer.Option(help="File for the plan (Markdown).")],
    file: Annotated[
        bool, typer.Option("--file", help="Also store it as the filed plan.")
    ] = False,
    by: ByOption = "compliance-officer",
    at: AtOption = None,
    database: DatabaseOption = None,
) -> None:
    """Generate the compliance plan from the running configuration."""
    from coflex.services import compliance

    when = parse_at(at)

    def step(session):  # type: ignore[no-untyped-def]
        if file:
            return compliance.file_plan(session, by, when).document
        config = compliance.configuration(session)
        return compliance.plan_document(config, compliance.controls(session))

    output.write_text(run_step(database, step), encoding="utf-8")
    console.print(f"Wrote {output}" + (" and filed it" if file else ""))


@app.command("drift")
def drift(database: DatabaseOption = None) -> None:
    """Compare the running configuration with the filed plan; exit 1 on drift."""
    from coflex.services import compliance

    result = run_step(database, compliance.drift)
    console.print_json(json.dumps(result))
    if result["drift"]:
        raise typer.Exit(1)
