"""``postpilot post import | export``: posts in and out as CSV (the format is ``csv_format.py``'s). An import
checks every row before it writes any."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from postpilot.cli.common import EXIT_INPUT, fail, handle_errors, open_app
from postpilot.csv_export import export_csv
from postpilot.csvio import parse_csv
from postpilot.domain.errors import Conflict, InvalidInput, NotFound
from postpilot.domain.model import PostStatus, utcnow


@handle_errors
def import_(
    file: Annotated[Path, typer.Argument(help="CSV file (see the README for its columns).")],
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import the good rows even if some are bad.")
    ] = False,
    allow_past: Annotated[
        bool, typer.Option("--allow-past", help="Accept times more than 5 minutes ago: publish those at once.")
    ] = False,
) -> None:
    """Import posts from CSV (commas, semicolons or tabs). Every row is checked first; with any bad row nothing
    is imported (unless --skip-invalid). A row with an id (from post export) updates that post."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{file} is not UTF-8 text (save the CSV as UTF-8)") from exc
    import io

    app = open_app()
    try:
        # On a terminal, large files show how far the check has got (stderr: stdout stays the result).
        tty = sys.stderr.isatty()
        results = parse_csv(
            io.StringIO(text),
            app.repo.account_by_name,
            progress=(lambda n: typer.echo(f"checked {n:,} rows…", err=True)) if tty else None,
            now=None if allow_past else utcnow(),
            find_post=app.repo.post,
        )
        bad = [r for r in results if r.problems]
        for r in bad:
            typer.echo(f"line {r.line}: {'; '.join(r.problems)}", err=True)
        new = [r.values for r in results if r.values is not None and r.post_id is None]
        edits = [r for r in results if r.values and r.post_id is not None]
        unchanged = sum(1 for r in results if r.post_id is not None and r.values == {})
        if bad and not skip_invalid:
            raise fail(
                f"{len(bad)} of {len(results)} rows are invalid; nothing was imported "
                "(fix them, or use --skip-invalid to import the valid rows)",
                EXIT_INPUT,
            )
        total = len(new)
        added = (lambda n: typer.echo(f"imported {n:,} of {total:,} rows…", err=True)) if tty else None
        ids = app.repo.add_posts(new, progress=added) if new else []
        refused = 0
        for r in edits:
            assert r.post_id is not None and r.values is not None
            try:
                app.repo.edit_post(r.post_id, r.values, actor="import")
            except (Conflict, NotFound) as exc:
                refused += 1
                typer.echo(f"line {r.line}: {exc.message}", err=True)
        parts = [f"imported {len(ids)} post(s)"]
        if edits or unchanged:
            parts.append(f"updated {len(edits) - refused}, unchanged {unchanged}")
        if refused:
            parts.append(f"{refused} update(s) refused")
        if bad:
            parts.append(f"skipped {len(bad)} invalid row(s)")
        typer.echo(", ".join(parts))
        if bad or refused:
            raise typer.Exit(EXIT_INPUT)
    finally:
        app.close()


@handle_errors
def export(
    status: Annotated[str | None, typer.Option(help="Only posts with this status.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
    full_urls: Annotated[
        bool,
        typer.Option(
            "--full-urls",
            help="Write URLs as stored, query strings (signatures, tokens) included; by default they are hidden.",
        ),
    ] = False,
) -> None:
    """Export posts as CSV (the import format plus status and results). URLs are shown without user:password
    and with their query string as ?… unless --full-urls; cells a spreadsheet would run as a formula (=, +, -,
    @) start with an apostrophe, which the import takes off again. A row that cannot be read is left out and
    named on stderr (exit code 3)."""
    if status is not None and status not in {s.value for s in PostStatus}:
        raise InvalidInput(f"unknown status {status!r}; one of: {', '.join(s.value for s in PostStatus)}")
    app = open_app()
    try:
        names = {a.id: a.name for a in app.repo.list_accounts()}
        skipped: list[str] = []  # rows the database holds but postpilot cannot read
        data = export_csv(app.repo.list_posts(status=status, skipped=skipped), names, full_urls=full_urls)
        if output:
            output.write_text(data, encoding="utf-8")
        else:
            sys.stdout.write(data)
        for message in skipped:
            typer.echo(f"left out of the export: {message}", err=True)
        if skipped:  # the file is written without them; a script must notice it is not every post
            raise typer.Exit(EXIT_INPUT)
    finally:
        app.close()
