"""`evtool asyncapi export`: the catalogue as an AsyncAPI 3 document."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evtool.cli.conventions import examples

asyncapi_app = typer.Typer(
    help="AsyncAPI 3 documents from and for the catalogue.",
    no_args_is_help=True,
    epilog=examples("evtool asyncapi export -o asyncapi.yaml",
                    "evtool schema check --asyncapi asyncapi.yaml --against main"),
)


def register(app: typer.Typer) -> None:
    app.add_typer(asyncapi_app, name="asyncapi")


@asyncapi_app.command("export", epilog=examples("evtool asyncapi export -o asyncapi.yaml",
                                                 "evtool asyncapi export --inline --title Orders"))
def export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", metavar="FILE", help="Write it to FILE.")
    ] = None,
    schemas: Annotated[
        Path | None, typer.Option("--schemas", metavar="DIR", help="Schema directory (default: evtool.toml).")
    ] = None,
    title: Annotated[str, typer.Option("--title", help="info.title of the document.")] = "Business events",
    doc_version: Annotated[
        str, typer.Option("--doc-version", help="info.version of the document.")
    ] = "1.0.0",
    inline: Annotated[
        bool, typer.Option("--inline", help="Embed the schemas instead of $ref to files.")
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option("--config", metavar="FILE", help="Config file (default: nearest evtool.toml)."),
    ] = None,
) -> None:
    """Write an AsyncAPI 3 document: a channel per topic, a message per subject (latest version).
    """
    from evtool.asyncapi.writer import dump_yaml, to_asyncapi
    from evtool.catalog import load_catalog
    from evtool.cli.views import write_atomically
    from evtool.config import load_settings

    settings = load_settings(config)
    catalog = load_catalog(schemas or settings.schema_dir)
    where = output.parent if output is not None else Path.cwd()
    text = dump_yaml(
        to_asyncapi(catalog, settings, title=title, version=doc_version, relative_to=where, inline=inline)
    )
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(output, text)
    else:
        typer.echo(text, nl=False)
