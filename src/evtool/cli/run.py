"""`evtool run SCENARIO [OPTIONS]`: `evtool simulate --scenario SCENARIO [OPTIONS]`, under its own name.

It forwards to the registered `simulate` command (CLI modules do not import one another), so
every simulate option works here and overrides the file, with nothing to keep in step.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from evtool.cli.conventions import examples
from evtool.errors import UsageError


def register(app: typer.Typer) -> None:
    app.command(
        "run",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        epilog=examples("evtool run examples/http-orders.toml",
                        "evtool run examples/kafka-orders.toml"),
    )(run)


def run(
    ctx: typer.Context,
    arguments: Annotated[
        list[str] | None,
        typer.Argument(metavar="SCENARIO [OPTIONS]",
                       help="A scenario file (TOML), then any option of `evtool simulate`, which wins over "
                       "the file (e.g. --rate 200/s, --slo 'p99<=1s', --summary-export summary.json)."),
    ] = None,
) -> None:
    """Run the load test a scenario file describes: target, events, arrival, collector, objectives.

    Exit 0 when it ran (and its objectives held), 1 when an objective was missed or the run is
    incomplete, 2 for a bad file (file:line: key: what is wrong — what to do). The run's meta.json
    records the scenario (secrets redacted), its sha256, and which options the command line overrode.

    e.g. evtool run examples/http-orders.toml --rate 50/s --summary-export summary.json
    """
    parent = ctx.parent
    group: Any = parent.command if parent is not None else None
    simulate = group.get_command(parent, "simulate") if group is not None else None
    if simulate is None:  # pragma: no cover - both are registered by the one app
        raise UsageError("evtool run needs the simulate command")
    tokens = list(arguments or [])
    scenario = _scenario_argument(simulate, tokens)
    if scenario is None:
        raise UsageError("give a scenario file: evtool run SCENARIO.toml [OPTIONS]",
                         hint="examples/http-orders.toml is one")
    rest = tokens[:scenario] + tokens[scenario + 1:]
    sub = simulate.make_context("run", ["--scenario", tokens[scenario], *rest], parent=parent)
    with sub:
        simulate.invoke(sub)


def _scenario_argument(command: Any, tokens: list[str]) -> int | None:
    """The index of the first token that is neither an option nor an option's value."""
    takes_value: set[str] = set()
    for param in getattr(command, "params", []):
        if getattr(param, "param_type_name", "") == "option" and not getattr(param, "is_flag", False):
            takes_value.update(getattr(param, "opts", []))
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.startswith("-") and token != "-":
            if token in takes_value:  # "--rate 5/s"; "--rate=5/s" and "-r5/s" carry their value
                index += 1
            index += 1
            continue
        return index
    return None


__all__ = ["register"]
