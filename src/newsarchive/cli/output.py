"""The one place that turns results and errors into terminal output and exit statuses.

Human output (progress, tables, errors) goes to stderr through one rich Console; stdout
carries only data (``--json``). rich is imported when something is first printed: ``--help`` and ``--version``
print without it, and importing it took 20-60 ms of their start.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any, NoReturn

from ..errors import ArchiveLockedError, ArchiveNotFoundError, ConfigError, NewsarchiveError, SearchError
from ..times import ZONE, beijing, iso

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from ..check import CheckReport
    from ..diff import History
    from ..health import SourceHealth
    from ..index.search import Hit
    from ..models import ImportReport, SourceReport, UpdateReport

    console: Console  # progress, tables and summaries: silent with --quiet
    alerts: Console  # errors and what failed: shown even with --quiet

UNWRAPPED = 1 << 16  # columns off a terminal: a log or a pipe gets whole lines, never cut at 80


def _console(*, stderr: bool) -> Console:
    from rich.console import Console

    made = Console(stderr=stderr, highlight=False)
    if not made.is_terminal:
        made.width = UNWRAPPED
    return made


@cache
def _summary_console() -> Console:
    return _console(stderr=True)


@cache
def _alert_console() -> Console:
    return _console(stderr=True)


def __getattr__(name: str) -> Console:
    """``output.console`` and ``output.alerts``, each made on first use."""
    if name == "console":
        return _summary_console()
    if name == "alerts":
        return _alert_console()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def escape(text: str) -> str:
    """rich's escape of markup, for text printed with markup on."""
    from rich.markup import escape as escape_markup

    return escape_markup(text)


def set_quiet() -> None:
    """--quiet: only errors and what failed (failed outlets, skipped files); data on stdout is unchanged."""
    _summary_console().quiet = True


# The exit statuses, as the README's table gives them.
EXIT_OK = 0
EXIT_SOME_FAILED = 1  # some outlets failed (the rest are archived), some files skipped, or an error
EXIT_USAGE = 2  # a bad option, query, configuration or sources file; no archive
EXIT_LOCKED = 3  # refused: another run holds the archive


def exit_status(error: BaseException) -> int:
    if isinstance(error, ArchiveLockedError):
        return EXIT_LOCKED
    return EXIT_USAGE if isinstance(error, (ConfigError, ArchiveNotFoundError, SearchError)) else EXIT_SOME_FAILED


def fail(error: NewsarchiveError, *, debug: bool = False) -> NoReturn:
    """One red line saying what went wrong and where, then the hint; the traceback only with --debug."""
    alerts = _alert_console()
    if debug:
        alerts.print_exception()
    alerts.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True, emoji=False)
    if error.hint:
        alerts.print(f"[dim]hint:[/dim] {escape(error.hint)}", soft_wrap=True)
    sys.exit(exit_status(error))


def _milliseconds(data: Any) -> Any:
    """Every float (times in seconds, scores) rounded to 3 decimals: milliseconds, as everywhere in JSON."""
    if isinstance(data, float):
        return round(data, 3)
    if isinstance(data, dict):
        return {key: _milliseconds(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_milliseconds(value) for value in data]
    return data


class _OneLine(logging.Formatter):
    """A logged warning as its message alone: the traceback of an exception logged with it only with --debug."""

    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage()


def log_warnings() -> None:
    """Warnings of the library on stderr, one line each (without this, Python's last-resort handler would print
    the traceback of every exception logged with one)."""
    logger = logging.getLogger("newsarchive")
    if not any(isinstance(handler.formatter, _OneLine) for handler in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.WARNING)
        handler.setFormatter(_OneLine())
        logger.addHandler(handler)


def print_json(data: Any) -> None:
    import json

    sys.stdout.write(json.dumps(_milliseconds(data), ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def when(ms: int | None) -> str:
    return beijing(ms)


@contextmanager
def update_progress(total: int) -> Iterator[Callable[[SourceReport], None]]:
    """Progress while fetching: a transient bar on a terminal; elsewhere (a log) none, so that the table that
    follows reports each outlet once."""
    console = _summary_console()
    if not console.is_terminal or console.quiet:
        yield lambda report: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("fetching"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("", total=total)

        def advance(report: SourceReport) -> None:
            progress.update(task, advance=1, description=report.slug)

        yield advance


@contextmanager
def count_progress(verb: str) -> Iterator[Callable[[int], None]]:
    """A transient count of files done, on a terminal only."""
    console = _summary_console()
    if not console.is_terminal or console.quiet:
        yield lambda done: None
        return
    with console.status(f"{verb}…") as status:
        yield lambda done: status.update(f"{verb}: {done:,} files")


def update_table(report: UpdateReport) -> Table:
    from rich.table import Table

    table = Table(title=f"update: {report.new} new, {report.updated} updated in {report.seconds:.1f} s", title_justify="left")
    for column in ("outlet", "new", "updated", "unchanged", "failed", "time"):
        table.add_column(column, justify="right" if column in ("new", "updated", "unchanged", "time") else "left")
    for source in report.sources:
        table.add_row(
            escape(f"{source.name} ({source.slug})"),
            str(source.new),
            str(source.updated),
            str(source.unchanged),
            f"[red]{escape(source.error)}[/red]" if source.error else "",
            f"{source.seconds:.1f} s",
        )
    return table


def print_update(report: UpdateReport) -> None:
    console = _summary_console()
    alerts = _alert_console()
    console.print(update_table(report))
    if console.quiet:  # only what failed
        for source in report.failed:
            alerts.print(f"[red]failed:[/red] {source.slug}: {escape(source.error or '')}", soft_wrap=True)
    for source in report.sources:
        for warning in source.warnings:
            console.print(f"[yellow]warning:[/yellow] {source.slug}: {escape(warning)}", soft_wrap=True)
    print_damage(report.restored, report.damaged)


def print_damage(restored: tuple[tuple[str, str], ...], damaged: tuple[tuple[str, str], ...]) -> None:
    """Damaged files restored, and those still damaged, a line each, with what to do about the latter."""
    console = _summary_console()
    for path, how in restored:
        console.print(f"[green]restored:[/green] {escape(path)} was damaged; {escape(how)}", soft_wrap=True)
    for path, problem in damaged:
        console.print(f"[red]damaged:[/red] {escape(path)}: {escape(problem)}; not restored", soft_wrap=True)
    if damaged:
        console.print(
            f"[dim]hint:[/dim] {len(damaged)} damaged files: `newsarchive update` restores the articles their feeds still carry;"
            " restore the others from a backup or a published mirror, or remove them and run `newsarchive reindex` to accept the loss",
            soft_wrap=True,
        )


def print_import(report: ImportReport, verb: str) -> None:
    console = _summary_console()
    alerts = _alert_console()
    rate = report.files / report.seconds if report.seconds else 0
    console.print(
        f"{verb}: {report.files} files, {report.imported} indexed, {report.unchanged} already present, "
        f"{report.duplicates} duplicates, {len(report.errors)} skipped in {report.seconds:.1f} s ({rate:,.0f} files/s)"
    )
    for error in report.errors:
        alerts.print(f"[yellow]skipped:[/yellow] {escape(error)}", soft_wrap=True)


def _health_cells(row: SourceHealth) -> tuple[str, ...]:
    from ..health import health_cells

    error = f"{when(row.last_error_ms)}: {row.last_error}" if row.last_error else ""
    return (*health_cells(row), str(row.articles), error)


def print_health(rows: list[SourceHealth]) -> None:
    """The table of health.md, with each outlet's article count and last error besides; where the table is wider
    than the terminal, a block per outlet with a line per column instead, which reads at any width."""
    from rich.measure import Measurement
    from rich.table import Table

    from ..health import HEALTH_COLUMNS

    console = _summary_console()

    columns = (*HEALTH_COLUMNS, "文章 Articles", "上次错误 Last error")
    table = Table(title=f"outlets ({ZONE})", title_justify="left")
    for column in columns:
        table.add_column(column, justify="right" if column.startswith(("24", "文章")) else "left")
    for row in rows:
        cells = [escape(cell) for cell in _health_cells(row)]
        table.add_row(*cells[:-1], f"[red]{cells[-1]}[/red]" if cells[-1] else "")
    if Measurement.get(console, console.options.update_width(UNWRAPPED), table).maximum <= console.width:
        console.print(table)
        return
    console.print(f"outlets ({ZONE})")
    for row in rows:
        plain = _health_cells(row)
        console.print(f"\n[bold]{escape(plain[1])}[/bold]")
        for column, cell in zip(columns, plain, strict=True):
            if cell and column != columns[1]:
                console.print(f"  {escape(column)}: {escape(cell)}")


def hit_json(hit: Hit) -> dict[str, Any]:
    return {
        "path": hit.path,
        "source": hit.source,
        "title": hit.title,
        "link": hit.link,
        "pub_ms": hit.pub_ms,
        "published_at": iso(hit.pub_ms),
        "score": hit.score,
        "snippet": hit.snippet,
    }


def print_hits(hits: list[Hit], name_of: Callable[[str], str]) -> None:
    """Search hits on stdout (they are the command's data), matches in bold; dates in Beijing time, +08:00."""
    out = _console(stderr=False)
    if not hits:
        _summary_console().print("no matches")
    for hit in hits:
        date = f"{when(hit.pub_ms)}+08:00"
        out.print(f"{date}  {escape(name_of(hit.source))}  [bold]{escape(hit.title)}[/bold]  [dim]{escape(hit.path)}[/dim]")
        marked = escape(hit.snippet).replace("【", "[reverse]").replace("】", "[/reverse]")
        out.print(f"    {marked}", soft_wrap=True)


def print_history(history: History, name_of: Callable[[str], str]) -> None:
    """An article's versions and the changes between them on stdout (they are the command's data): green and red on
    a terminal, {+added+} and [-removed-] elsewhere or under NO_COLOR."""
    from rich.text import Text

    from ..diff import segments_text

    out = _console(stderr=False)
    markers = not out.is_terminal or out.no_color
    row = history.article
    out.print(f"[bold]{escape(row.title)}[/bold]  {escape(name_of(row.source))}  [dim]{escape(row.path)}[/dim]", soft_wrap=True)
    if row.link:
        out.print(row.link, markup=False, soft_wrap=True)
    for number, version in enumerate(history.versions, 1):
        size = f"{version.characters:,} characters" if version.error is None else f"[red]unreadable: {escape(version.error)}[/red]"
        label = "latest" if version.latest else escape(version.path)
        out.print(f"{number}. {when(version.seen_ms)}  {escape(version.title)}  ({size})  [dim]{label}[/dim]", soft_wrap=True)
    for older, newer, diff in history.changes():
        out.print(f"\n[bold]{when(older.seen_ms)} → {when(newer.seen_ms)}[/bold]", soft_wrap=True)
        if not diff.changed:
            out.print("  no difference in the text (only white space or markup)")
        if diff.title_changed:
            out.print(Text("  title: ").append_text(segments_text(diff.title, markers=markers)), soft_wrap=True)
        for paragraph in diff.paragraphs:
            out.print(Text("  ").append_text(segments_text(paragraph, markers=markers)), soft_wrap=True)
    _summary_console().print(f"{len(history.versions)} version{'s' * (len(history.versions) != 1)}, by when each was first seen ({ZONE})")


def print_check(report: CheckReport) -> None:
    """A line per finding (what was repaired, or not), then the counts."""
    console = _summary_console()
    alerts = _alert_console()
    for finding in report.findings:
        where = f"{finding.part}: {escape(finding.path)}: {escape(finding.problem)}"
        if finding.repaired:
            console.print(f"[green]repaired:[/green] {where}; {escape(finding.repaired)}", soft_wrap=True)
        else:
            alerts.print(f"[red]wrong:[/red] {where}", soft_wrap=True)  # shown even with --quiet
    counts = ", ".join(f"{count:,} {what.replace('_', ' ')}" for what, count in report.checked.items())
    wrong = sum(1 for finding in report.findings if finding.repaired is None)
    repaired = len(report.findings) - wrong
    verdict = "all well" if not report.findings else f"{wrong} wrong" + (f", {repaired} repaired" if report.repair else "")
    hint = "; `newsarchive check --repair` fixes what can be fixed" if wrong and not report.repair else ""
    console.print(f"check: {verdict} ({counts}) in {report.seconds:.1f} s{hint}", soft_wrap=True)
