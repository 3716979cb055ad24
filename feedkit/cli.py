"""The ``feedkit`` command: a thin adapter from options to library calls.

Every error a person can cause is one line on stderr, ``Error: ...``, and an exit code: 2 for
usage (a bad option, a file or store that does not exist, a missing credential: feedkit's
:class:`~feedkit.errors.UsageError`), 1 for data or the service (invalid rows, an API error),
130 for Ctrl-C. A traceback only with ``--debug`` (or ``FEEDKIT_DEBUG=1``). A command that fails
leaves no empty store behind, and a command that only reads never creates one. What is printed
goes through :mod:`feedkit.terminal` (rich); nothing here holds logic the library lacks.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from typing import Any

import click

from feedkit.errors import FeedkitError, UsageError
from feedkit.schema import DEFAULT_CONCURRENCY, MAX_BATCH, MAX_REQUEST_BYTES
from feedkit.tables import EXPORTED_KINDS
from feedkit.terminal import console, print_errors, print_failure, print_report

_FRESH_STORES: list[str] = []  # stores this command created: removed if it fails, empty
_DEBUG = False


def _debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    global _DEBUG
    _DEBUG = _DEBUG or value


debug_option = click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_debug,
    help="Show the traceback of an error [env FEEDKIT_DEBUG=1].",
)


def _fail(message: str, code: int) -> None:
    print_failure(console(stderr=True), message)
    sys.exit(code)


def _remove_empty(path: str) -> None:
    """Remove a store this command created if nothing was stored in it."""
    from feedkit.server.store import holds_data

    try:
        with closing(sqlite3.connect(path)) as db:
            if holds_data(db):
                return
    except sqlite3.Error:
        return
    for suffix in ("", "-wal", "-shm"):
        with suppress(FileNotFoundError):
            os.remove(path + suffix)


class FeedkitGroup(click.Group):
    """The command group, with feedkit's error rules (see the module)."""

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        standalone_mode: bool = True,
        **kwargs: Any,
    ) -> Any:
        global _DEBUG
        _DEBUG = os.environ.get("FEEDKIT_DEBUG", "") not in ("", "0")
        _FRESH_STORES.clear()
        if not standalone_mode:
            return super().main(args, prog_name, standalone_mode=False, **kwargs)
        code = 1
        try:
            result = super().main(args, prog_name, standalone_mode=False, **kwargs)
            code = result if isinstance(result, int) else 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except click.UsageError as exc:
            hint = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
            self._end(exc.format_message() + hint, 2)
        except click.ClickException as exc:
            self._end(exc.format_message(), exc.exit_code)
        except (click.Abort, KeyboardInterrupt):
            self._end("interrupted", 130)
        except Exception as exc:
            if _DEBUG:
                self._cleanup(1)
                raise
            self._end(*_message(exc))
        self._cleanup(code)
        sys.exit(code)

    def _end(self, message: str, code: int) -> None:
        self._cleanup(code)
        _fail(message, code)

    @staticmethod
    def _cleanup(code: int) -> None:
        if code:
            for path in _FRESH_STORES:
                _remove_empty(path)


def _message(exc: Exception) -> tuple[str, int]:
    """The one line and exit code of an error."""
    if isinstance(exc, UsageError):
        return str(exc), 2
    if isinstance(exc, FeedkitError):
        return str(exc), 1
    if isinstance(exc, OSError):  # no such directory, no space left, no permission
        return f"{exc.filename or 'a file'}: {exc.strerror or exc}", 1
    return (f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the "
            "traceback, and please report it)", 1)  # fmt: skip


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


@click.group(cls=FeedkitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="feedkit")
@debug_option
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
    default=MAX_REQUEST_BYTES,
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
@debug_option
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


@main.command()
@db_option
@debug_option
def demo(db: str) -> None:
    """Add, update, query and read back activities on the embedded default."""
    from feedkit.demo import run_demo

    with _client(db, None) as client:
        for line in run_demo(client):
            click.echo(line)


def _mapping(path: str) -> Any:
    from feedkit.mapping import Mapping

    return Mapping.from_toml(path)


# A file, a directory, a glob (quoted) or a URL: feedkit.sources says what exists.
source_argument = click.argument("source")
mapping_option = click.option(
    "--mapping",
    "mapping_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="TOML file mapping source columns to the fields of one kind ([activity], [user]...).",
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
no_progress_option = click.option(
    "--no-progress",
    is_flag=True,
    help="No progress bar (none is shown when stderr is not a terminal, or with "
    "FEEDKIT_PROGRESS=0).",
)


via_option = click.option(
    "--via",
    type=click.Choice(["api", "import", "auto"]),
    default="api",
    show_default=True,
    help="api: the API's writes; import: the vendor's import pipeline (an import file, "
    "uploaded and imported: no rate limit); auto: the pipeline for a big source of a kind "
    "stored a request a row (reactions, bookmarks), or any big source sent to a remote server.",
)
concurrency_option = click.option(
    "--concurrency",
    default=DEFAULT_CONCURRENCY,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Requests in flight.",
)


def _bars(no_progress: bool) -> bool:
    """A progress bar on a terminal only: piped or redirected output stays plain for scripts."""
    return not no_progress and sys.stderr.isatty()


@contextmanager
def _client(db: str | None, base_url: str | None, *, create: bool = True) -> Iterator[Any]:
    """The embedded store (--db) or a remote server (--base-url), never both. ``create``
    False: a store file that does not exist is a usage error, not a new empty store."""
    import feedkit
    from feedkit.client import DEFAULT_DB, store_exists

    if db and base_url:
        raise click.UsageError("pass --db or --base-url, not both")
    if base_url and not db:
        with feedkit.connect(base_url=base_url) as remote:
            yield remote
        return
    path: str | None = db or os.environ.get("FEEDKIT_DB") or DEFAULT_DB
    if db is None and os.environ.get("STREAM_BASE_URL"):
        path = None  # connect() goes remote, as it documents
    fresh = path is not None and not store_exists(path)
    with feedkit.connect(path, create=create) as client:
        if fresh and path is not None:
            _FRESH_STORES.append(path)
        yield client


def _report(report: Any, title: str) -> None:
    out = console()
    print_report(out, title, report.ok, report.verdict, report.figures(), report.notes)
    print_errors(out, report.errors, total=report.errors_total, errors_path=report.errors_path)


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
@concurrency_option
@click.option(
    "--batch-size",
    default=MAX_BATCH,
    show_default=True,
    type=click.IntRange(1, MAX_BATCH),
    help="Rows per request (where the kind has a batch operation).",
)
@errors_option
@via_option
@click.option(
    "--to-jsonl",
    type=click.Path(dir_okay=False),
    help="Write a bulk import file (JSON lines, created_at kept) instead of sending.",
)
@no_progress_option
@debug_option
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
    via: str,
    to_jsonl: str | None,
    no_progress: bool,
) -> int:
    """Import the rows of SOURCE (CSV, Parquet, JSON lines...) as the mapping's kind:
    activities, users, follows, comments, reactions, bookmarks or feed groups.

    Exits 0 when every row was imported, 1 when some were invalid or failed.
    """
    import feedkit
    from feedkit.importfile import write_import_file

    mapping = _mapping(mapping_path)
    if to_jsonl:
        written = write_import_file(source, mapping, to_jsonl, progress=_bars(no_progress))
        out = console()
        out.print(written.summary())
        print_errors(out, written.errors)
        return 1 if written.invalid else 0
    try:
        with _client(db, base_url) as client:
            report = feedkit.import_rows(
                client,
                source,
                mapping,
                checkpoint=checkpoint,
                dry_run=dry_run,
                concurrency=concurrency,
                batch_size=batch_size,
                errors_path=errors_path,
                progress=_bars(no_progress),
                via=via,
            )
    except KeyboardInterrupt:
        _fail("interrupted: acknowledged rows are journaled; rerun with the same --checkpoint "
              "to send the rest", 130)  # fmt: skip
    mode = " (dry run: nothing sent)" if dry_run else ""
    _report(report, f"import of {report.source}{report.what}{mode}")
    return 0 if report.ok else 1


@main.command()
@click.argument("feed", required=False)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="OUT.parquet, OUT.csv (with OUT.mapping.toml beside it) or, for activities, "
    "OUT.jsonl (an import file).",
)
@click.option(
    "--kind",
    type=click.Choice(["activity", *EXPORTED_KINDS]),
    default="activity",
    show_default=True,
    help="What to export: activities of a FEED or a --query, or every row of another kind.",
)
@click.option("--query", "query", help='A query filter as JSON, e.g. \'{"user_id": "alice"}\'.')
@click.option(
    "--activity", "activity_id", help="The activity whose comments or reactions to export."
)
@click.option("--comment", "comment_id", help="The comment whose reactions to export.")
@click.option("--user", "user_id", help="The user whose bookmarks to export.")
@store_option
@remote_option
@no_progress_option
@debug_option
def export(
    feed: str | None,
    output: str,
    kind: str,
    query: str | None,
    activity_id: str | None,
    comment_id: str | None,
    user_id: str | None,
    db: str | None,
    base_url: str | None,
    no_progress: bool,
) -> None:
    """Export FEED (e.g. user:alice) or a --query, every page of it, to a file; or, with
    --kind, every user, follow, comment, reaction or bookmark (comments of an --activity,
    reactions of an --activity or a --comment, bookmarks of a --user; any of them filtered by
    a --query).

    Reads only: a store or feed that does not exist is an error, and nothing is created.
    """
    import json

    from feedkit import export as ex
    from feedkit.resources import RESOURCES
    from feedkit.tables import export_kind

    if kind == "activity" and (feed is None) == (query is None):
        raise click.UsageError("give a FEED or --query, one of them")
    if kind != "activity" and feed is not None:
        raise click.UsageError(f"a {kind} export takes no FEED (filter it with --query)")
    try:
        filter_ = json.loads(query) if query is not None else None
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--query") from None
    named = {"activity_id": activity_id, "comment_id": comment_id, "user_id": user_id}
    suffix = output.rsplit(".", 1)[-1].lower()
    writers: dict[str, Any] = {"parquet": ex.to_parquet, "csv": ex.to_csv, "jsonl": ex.to_jsonl}
    if kind == "activity" and any(named.values()):
        raise click.UsageError("--activity, --comment and --user go with another --kind")
    if suffix not in writers or (kind != "activity" and suffix == "jsonl"):
        raise click.BadParameter(
            "write .parquet, .csv or .jsonl" if kind == "activity" else "write .parquet or .csv",
            param_hint="--output",
        )
    with _client(db, base_url, create=False) as client:
        if kind == "activity":
            result = writers[suffix](client, output, feed=feed, filter=filter_,
                                     progress=_bars(no_progress))  # fmt: skip
        else:
            result = export_kind(client, kind, output, filter=filter_,
                                 progress=_bars(no_progress), **named)  # fmt: skip
    count, extra = result if isinstance(result, tuple) else (result, None)
    console().print(
        f"exported {count:,} {RESOURCES[kind].plural} to {output}"
        + (f" (import it back with --mapping {extra})" if extra else "")
    )


@main.command()
@source_argument
@mapping_option
@errors_option
@no_progress_option
@debug_option
def validate(source: str, mapping_path: str, errors_path: str | None, no_progress: bool) -> int:
    """Check every row of SOURCE against the mapping and the schema; send nothing.

    Exits 0 when every row is valid, 1 when some are not.
    """
    import feedkit

    mapping = _mapping(mapping_path)
    report = feedkit.validate_source(
        source, mapping, errors_path=errors_path, progress=_bars(no_progress)
    )
    _report(report, f"validation of {report.source}{report.what}")
    return 1 if report.invalid else 0


@main.command()
@click.argument("plan_path", metavar="PLAN", type=click.Path(dir_okay=False))
@store_option
@remote_option
@click.option(
    "--checkpoint",
    type=click.Path(file_okay=False),
    help="Folder of journals, one per step: the same command resumes where it stopped.",
)
@click.option("--dry-run", is_flag=True, help="Validate every step, references included.")
@click.option(
    "--to-jsonl",
    type=click.Path(dir_okay=False),
    help="Write the whole app as one bulk import file (JSON lines, history kept) instead.",
)
@click.option(
    "--via",
    type=click.Choice(["api", "import", "auto"]),
    default="api",
    show_default=True,
    help="api: the API's writes; import: the whole app as one import file, uploaded and "
    "imported by the vendor's import pipeline (no rate limit); auto: each step chooses (the "
    "pipeline for a big step of reactions or bookmarks, stored a request a row by the API).",
)
@click.option(
    "--errors",
    "errors_dir",
    type=click.Path(file_okay=False),
    help="Folder receiving one CSV of failures per step.",
)
@concurrency_option
@no_progress_option
@debug_option
def migrate(
    plan_path: str,
    db: str | None,
    base_url: str | None,
    checkpoint: str | None,
    dry_run: bool,
    to_jsonl: str | None,
    via: str,
    errors_dir: str | None,
    concurrency: int,
    no_progress: bool,
) -> int:
    """Move a whole app: every step of PLAN (a TOML file of [[step]] source + mapping), in
    dependency order (feed groups, users, activities, follows, comments, reactions,
    bookmarks), references checked across steps.

    Exits 0 when every row of every step was imported, 1 when some were invalid or failed.
    """
    from feedkit.migrate import MigrationInterrupted
    from feedkit.migrate import migrate as run_plan
    from feedkit.plan import Plan

    plan = Plan.from_toml(plan_path)
    progress = _bars(no_progress)
    try:
        if to_jsonl and (db or base_url or dry_run or checkpoint):
            raise click.UsageError("--to-jsonl writes a file: no --db, --base-url, --dry-run "
                                   "or --checkpoint with it")  # fmt: skip
        if (dry_run or to_jsonl) and not (db or base_url):
            report = run_plan(None, plan, dry_run=dry_run, to_jsonl=to_jsonl, errors=errors_dir,
                              concurrency=concurrency, progress=progress)  # fmt: skip
        else:
            with _client(db, base_url) as client:
                report = run_plan(client, plan, checkpoint=checkpoint, errors=errors_dir,
                                  dry_run=dry_run, concurrency=concurrency, via=via,
                                  progress=progress)  # fmt: skip
    except MigrationInterrupted:
        _fail("interrupted: acknowledged rows are journaled; rerun the same command to resume"
              if checkpoint else "interrupted; rerun with --checkpoint DIR to make a run "
              "resumable", 130)  # fmt: skip
    for step, step_report in report.steps:
        mode = " (dry run: nothing sent)" if dry_run else ""
        _report(step_report, f"{step.kind} step {step.name}{mode}")
        console().print()
    print_report(console(), "migration, all steps", report.ok, report.verdict,
                 report.figures(), report.notes)  # fmt: skip
    return 0 if report.ok else 1


def run(args: list[str] | None = None) -> Any:  # pragma: no cover - entry point helper
    return main.main(args=args, prog_name="feedkit", standalone_mode=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
