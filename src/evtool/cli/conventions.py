"""One vocabulary for every command: value names in help, deprecated spellings, examples.

Typer names an option's value after its Python type (``<str>``, ``<bool>`` on a flag,
``<list[str]>``) and a required argument ``{file}``; users read option *values*, so each gets
a name saying what to write (RATE, FILE, URL), flags get none. Renamed options keep their old
spelling working, hidden from help, with one warning on stderr (`DEPRECATED`). Each command
module gives its examples with `examples(...)` as the command's epilog.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, get_args, get_origin

from typer.core import TyperArgument, TyperGroup, TyperOption

# (command path, old spelling) -> new spelling. The old one parses exactly as the new one.
DEPRECATED: dict[tuple[str, str], str] = {
    ("schema check", "--mode"): "--compatibility",
    ("simulate", "--mode"): "--content-mode",
    ("replay", "--mode"): "--content-mode",
    ("simulate", "--workers"): "--processes",
    ("replay", "--workers"): "--processes",
    ("consumer serve", "--workers"): "--concurrency",
    ("demo", "--workers"): "--consumer-concurrency",
}

# Value names by option (long name without dashes); otherwise derived from the type and name.
_VALUE_NAMES = {
    "target": "URL",
    "results-to": "URL",
    "collect": "URL",
    "source": "URL",
    "sink": "URL",
    "listen": "HOST:PORT",
    "remote-collector": "HOST:PORT",
    "host": "ADDRESS",
    "header": "'NAME: VALUE'",
    "schemas": "DIR",
    "run-dir": "DIR",
    "out": "FILE",
    "output": "FILE",
    "config": "FILE",
    "summary-export": "FILE",
    "scenario": "FILE",
    "baseline": "DIR",
    "against": "GIT_REF",
    "slo": "OBJECTIVE",
    "correlate-by": "FIELD",
    "key": "FIELD",
    "locale": "LOCALE",
    "compatibility": "LEVEL",
    "content-mode": "MODE",
    "count": "N",
    "schema-versions": "VERSIONS",
}
# Where one name means another kind of value in one command.
_BY_COMMAND = {("latency-report", "target"): "DURATION", ("consumer serve", "source"): "URL"}
_DURATIONS = frozenset({"duration", "timeout", "grace", "result-timeout", "service-time", "window"})

_warned: set[str] = set()


def examples(*lines: str) -> str:
    """A command's epilog: its examples, one per line, as the user would type them."""
    body = "\n".join(f"  [cyan]$ {line}[/]" for line in lines)
    return f"[bold]Examples[/]\n\n{body}"


def apply(command: Any) -> None:
    """Tidy value names of every option/argument and hook deprecated spellings, recursively."""
    _walk(command, "")


def _walk(command: Any, path: str) -> None:
    for param in command.params:
        if isinstance(param, TyperOption):
            _name_option(param, path)
        elif isinstance(param, TyperArgument):
            _name_argument(param)
    _quiet_help_option(command)
    aliases = {old: new for (where, old), new in DEPRECATED.items() if where == path}
    if aliases:
        _hook_aliases(command, path, aliases)
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            _walk(sub, f"{path} {name}".strip())


def _value_type(param: TyperOption | TyperArgument) -> Any:
    annotation: Any = param.type_descriptor.annotation
    if get_origin(annotation) is list:
        (annotation,) = get_args(annotation)
    return annotation


def _long_name(option: TyperOption) -> str:
    longs = [o for o in option.opts if o.startswith("--")]
    return longs[0][2:] if longs else option.name or ""


def _quiet_help_option(command: Any) -> None:
    """-h/--help is made per context, after the walk: name its (absent) value there."""
    make = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = make(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = get_help_option


def _name_option(option: TyperOption, path: str) -> None:
    if option.metavar is not None:
        return
    if option.is_flag or option.count:
        option.metavar = ""  # a flag takes no value: show none
        return
    name = _long_name(option)
    special = _BY_COMMAND.get((path, name))
    if special is not None:
        option.metavar = special
        return
    kind = _value_type(option)
    choices = option.type_descriptor.choices if option.type_descriptor.is_choice else None
    if choices:
        option.metavar = "|".join(str(getattr(c, "value", c)) for c in choices)
    elif name in _VALUE_NAMES:
        option.metavar = _VALUE_NAMES[name]
    elif name in _DURATIONS:
        option.metavar = "DURATION"
    elif option.opts == ["-X"]:
        option.metavar = "KEY=VALUE"
    elif kind is int:
        option.metavar = "N"
    elif kind is float:
        option.metavar = "NUMBER"
    elif kind is Path:
        option.metavar = "DIR" if "dir" in name else "PATH"
    else:
        option.metavar = name.upper().replace("-", "_") or "VALUE"


def _name_argument(argument: TyperArgument) -> None:
    base = (argument.name or "value").upper()
    if argument.nargs != 1:
        base = base.removesuffix("S") + "..."
    shown = base if argument.required else f"[{base}]"
    argument.metavar = base
    argument.display_type_rich = lambda ctx: None  # type: ignore[method-assign]  # the name says it
    # typer's usage line writes a required argument as {name}; write what a man page writes
    argument._usage_display_name = lambda: shown  # type: ignore[method-assign]


def _hook_aliases(command: Any, path: str, aliases: dict[str, str]) -> None:
    original: Callable[[Any, list[str]], list[str]] = command.parse_args

    def parse_args(ctx: Any, args: list[str]) -> list[str]:
        return original(ctx, rewrite(args, aliases, f"evtool {path}"))

    command.parse_args = parse_args


def rewrite(args: Sequence[str], aliases: dict[str, str], where: str) -> list[str]:
    """``args`` with deprecated option spellings replaced, each warned about once."""
    out: list[str] = []
    for index, arg in enumerate(args):
        if arg == "--":
            out.extend(args[index:])
            break
        name, sep, value = arg.partition("=")
        new = aliases.get(name)
        if new is None:
            out.append(arg)
            continue
        _warn(f"{where}: {name} is deprecated, use {new}")
        out.append(f"{new}{sep}{value}")
    return out


def warn_deprecated(message: str) -> None:
    """One line on stderr, once per process, for a deprecated spelling that still works."""
    _warn(message)


def _warn(message: str) -> None:
    if message in _warned:
        return
    _warned.add(message)
    print(f"warning: {message}", file=sys.stderr)


def every_command(command: Any, path: str = "") -> list[tuple[str, Any]]:
    """(path, command) of each command below ``command``, for tests and checks."""
    out: list[tuple[str, Any]] = []
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            out.append((f"{path} {name}".strip(), sub))
            out.extend(every_command(sub, f"{path} {name}".strip()))
    return out
