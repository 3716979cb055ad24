"""The ``feedkit`` command: a thin adapter from options to library calls.

Library errors become click errors with exit code 1 (2 for bad usage); nothing here holds
logic that the library does not also offer.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from feedkit.errors import FeedkitError
from feedkit.schema import DEFAULT_CONCURRENCY, MAX_BATCH


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
@click.option(
    "--strict-groups",
    is_flag=True,
    help="Refuse feeds of feed groups that do not exist (400), as the hosted service does; "
    "by default such a feed creates its group.",
)
def serve(
    db: str,
    host: str,
    port: int,
    api_key: str,
    api_secret: str,
    rate_limits: tuple[str, ...],
    max_body_bytes: int,
    strict_groups: bool,
) -> None:
    """Serve the Activity Feeds v3 protocol on HOST:PORT from a SQLite file."""
    from feedkit.serve import run

    try:
        run(
            db,
            host=host,
            port=port,
            api_key=api_key,
            api_secret=api_secret,
            rate_limits=_limits(rate_limits),
            max_body_bytes=max_body_bytes,
            announce=lambda url: click.echo(f"feedkit serving {url} (db: {db})"),
            strict_groups=strict_groups,
        )
    except FeedkitError as exc:
        raise click.ClickException(str(exc)) from None


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


def _mapping(path: str) -> Any:
    from feedkit.mapping import Mapping

    return Mapping.from_toml(path)


def _print_errors(errors: Any, rows: int = 20) -> None:
    if not len(errors):
        return
    shown = errors.head(rows)[["row", "field", "code", "message", "value"]].fillna("")
    click.echo(shown.to_string(index=False, max_colwidth=60))
    if len(errors) > rows:
        click.echo(f"... and {len(errors) - rows:,} more (write them all with --errors FILE)")


source_argument = click.argument("source", type=click.Path(dir_okay=False))
mapping_option = click.option(
    "--mapping",
    "mapping_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="TOML file mapping source columns to activity fields.",
)
errors_option = click.option(
    "--errors",
    "errors_path",
    type=click.Path(dir_okay=False),
    help="Write every failure (row, column, field, code, message, value) to this CSV.",
)


store_option = click.option(
    "--db",
    default=None,
    envvar="FEEDKIT_DB",
    help="The embedded store in this SQLite file [env FEEDKIT_DB; default feedkit.db].",
)
remote_option = click.option(
    "--base-url",
    default=None,
    envvar="STREAM_BASE_URL",
    help="A remote server instead [env STREAM_BASE_URL]; the key and secret come from "
    "STREAM_API_KEY and STREAM_API_SECRET.",
)
no_progress_option = click.option("--no-progress", is_flag=True, help="No progress bar.")


def _client(db: str | None, base_url: str | None) -> Any:
    """The embedded store (--db) or a remote server (--base-url), never both."""
    import feedkit

    if db and base_url:
        raise click.UsageError("pass --db or --base-url, not both")
    return feedkit.connect(base_url=base_url) if base_url and not db else feedkit.connect(db)


@main.command(name="import")
@source_argument
@mapping_option
@store_option
@remote_option
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False),
    help="Journal of acknowledged rows: a rerun with it sends only the rest.",
)
@click.option("--dry-run", is_flag=True, help="Validate and report; send nothing.")
@click.option(
    "--concurrency",
    default=DEFAULT_CONCURRENCY,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Requests in flight.",
)
@click.option(
    "--batch-size",
    default=MAX_BATCH,
    show_default=True,
    type=click.IntRange(1, MAX_BATCH),
    help="Activities per request.",
)
@errors_option
@click.option(
    "--to-jsonl",
    type=click.Path(dir_okay=False),
    help="Write a bulk import file (JSON lines, created_at kept) instead of sending.",
)
@no_progress_option
def import_(
    source: str,
    mapping_path: str,
    db: str | None,
    base_url: str | None,
    checkpoint: str | None,
    dry_run: bool,
    concurrency: int,
    batch_size: int,
    errors_path: str | None,
    to_jsonl: str | None,
    no_progress: bool,
) -> None:
    """Import the rows of SOURCE (CSV or Parquet) as activities, validated by the mapping.

    Exits 0 when every row was imported, 1 when some were invalid or failed.
    """
    import feedkit
    from feedkit.importfile import write_import_file

    try:
        mapping = _mapping(mapping_path)
        if to_jsonl:
            written = write_import_file(source, mapping, to_jsonl)
            click.echo(written.summary())
            _print_errors(written.errors)
            sys.exit(1 if written.invalid else 0)
        with _client(db, base_url) as client:
            report = feedkit.import_activities(
                client,
                source,
                mapping,
                checkpoint=checkpoint,
                dry_run=dry_run,
                concurrency=concurrency,
                batch_size=batch_size,
                errors_path=errors_path,
                progress=not no_progress,
            )
    except KeyboardInterrupt:
        click.echo(
            "interrupted: acknowledged rows are journaled; rerun with the same "
            "--checkpoint to send the rest",
            err=True,
        )
        sys.exit(130)
    except (FeedkitError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise _file_error(exc) from None
    click.echo(report.summary())
    _print_errors(report.errors)
    if not report.ok:
        sys.exit(1)


@main.command()
@click.argument("feed", required=False)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="OUT.parquet, OUT.csv (with OUT.mapping.toml beside it) or OUT.jsonl (an import file).",
)
@click.option("--query", "query", help='A query filter as JSON, e.g. \'{"user_id": "alice"}\'.')
@store_option
@remote_option
@no_progress_option
def export(
    feed: str | None,
    output: str,
    query: str | None,
    db: str | None,
    base_url: str | None,
    no_progress: bool,
) -> None:
    """Export FEED (e.g. user:alice) or a --query, every page of it, to a file."""
    import json

    from feedkit import export as ex

    if (feed is None) == (query is None):
        raise click.UsageError("give a FEED or --query, one of them")
    try:
        filter_ = json.loads(query) if query is not None else None
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--query") from None
    suffix = output.rsplit(".", 1)[-1].lower()
    writers: dict[str, Any] = {"parquet": ex.to_parquet, "csv": ex.to_csv, "jsonl": ex.to_jsonl}
    if suffix not in writers:
        raise click.BadParameter("write .parquet, .csv or .jsonl", param_hint="--output")
    try:
        with _client(db, base_url) as client:
            result = writers[suffix](
                client, output, feed=feed, filter=filter_, progress=not no_progress
            )
    except FeedkitError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise _file_error(exc) from None
    count, extra = result if isinstance(result, tuple) else (result, None)
    click.echo(
        f"exported {count:,} activities to {output}"
        + (f" (import it back with --mapping {extra})" if extra else "")
    )


def _file_error(exc: OSError) -> click.ClickException:
    """A file that cannot be written or read (no such directory, no space left, no
    permission), named, as a message instead of a traceback."""
    return click.ClickException(f"{exc.filename or 'a file'}: {exc.strerror or exc}")


@main.command()
@source_argument
@mapping_option
@errors_option
@no_progress_option
def validate(source: str, mapping_path: str, errors_path: str | None, no_progress: bool) -> None:
    """Check every row of SOURCE against the mapping and the schema; send nothing.

    Exits 0 when every row is valid, 1 when some are not.
    """
    import feedkit

    try:
        mapping = _mapping(mapping_path)
        report = feedkit.validate_source(
            source, mapping, errors_path=errors_path, progress=not no_progress
        )
    except (FeedkitError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise _file_error(exc) from None
    click.echo(report.summary())
    if errors_path:
        click.echo(f"{report.errors_total:,} errors written to {errors_path}")
    _print_errors(report.errors)
    if report.invalid:
        sys.exit(1)


def run(args: list[str] | None = None) -> Any:  # pragma: no cover - entry point helper
    return main.main(args=args, prog_name="feedkit", standalone_mode=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
