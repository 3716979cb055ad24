"""The ``feedkit`` command: a thin adapter from options to library calls.

Library errors become click errors with exit code 1 (2 for bad usage); nothing here holds
logic that the library does not also offer.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from feedkit.errors import FeedkitError


def _limits(values: tuple[str, ...]) -> dict[str, int]:
    limits: dict[str, int] = {}
    for value in values:
        op, sep, number = value.rpartition("=")
        try:
            limits[op if sep else "*"] = int(number)
        except ValueError:
            raise click.BadParameter(
                f"{value!r}: write N or OPERATION=N, e.g. AddActivity=1000",
                param_hint="--rate-limit",
            ) from None
    return limits


db_option = click.option(
    "--db",
    default="feedkit.db",
    envvar="FEEDKIT_DB",
    show_default=True,
    help="SQLite file of the embedded store [env FEEDKIT_DB] (':memory:' for a throwaway).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="feedkit")
def main() -> None:
    """feedkit: Activity Feeds v3 data in and out of notebooks."""


@main.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port", default=3030, show_default=True, type=int, help="Port to bind (0 picks a free one)."
)
@click.option(
    "--api-key",
    envvar="STREAM_API_KEY",
    required=True,
    help="The app's API key [env STREAM_API_KEY].",
)
@click.option(
    "--api-secret",
    envvar="STREAM_API_SECRET",
    required=True,
    help="The secret that signs tokens [env STREAM_API_SECRET]; never printed.",
)
@click.option(
    "--rate-limit",
    "rate_limits",
    multiple=True,
    metavar="[OPERATION=]N",
    help="Requests per minute, for one operation (AddActivity=1000) or all (N).",
)
@click.option(
    "--max-body-bytes",
    default=8 * 1024 * 1024,
    show_default=True,
    type=int,
    help="Larger request bodies are refused with 413.",
)
def serve(
    db: str,
    host: str,
    port: int,
    api_key: str,
    api_secret: str,
    rate_limits: tuple[str, ...],
    max_body_bytes: int,
) -> None:
    """Serve the Activity Feeds v3 protocol on HOST:PORT from a SQLite file."""
    from feedkit.serve import run

    run(
        db,
        host=host,
        port=port,
        api_key=api_key,
        api_secret=api_secret,
        rate_limits=_limits(rate_limits),
        max_body_bytes=max_body_bytes,
        announce=lambda url: click.echo(f"feedkit serving {url} (db: {db})"),
    )


@main.command()
@db_option
def demo(db: str) -> None:
    """Add, update, query and read back activities on the embedded default."""
    import feedkit
    from feedkit.demo import run_demo

    try:
        with feedkit.connect(db) as client:
            for line in run_demo(client):
                click.echo(line)
    except FeedkitError as exc:
        raise click.ClickException(str(exc)) from None


def run(args: list[str] | None = None) -> Any:  # pragma: no cover - entry point helper
    return main.main(args=args, prog_name="feedkit", standalone_mode=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
