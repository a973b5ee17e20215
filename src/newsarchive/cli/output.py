"""The one place that turns results and errors into terminal output and exit statuses.

Human output (progress, tables, errors) goes to stderr through one rich Console; stdout
carries only data (``--json``).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ..errors import ArchiveNotFoundError, ConfigError, NewsarchiveError
from ..models import ImportReport, SourceReport, UpdateReport

if TYPE_CHECKING:
    from ..check import CheckReport
    from ..diff import History
    from ..health import SourceHealth
    from ..index.search import Hit

console = Console(stderr=True, highlight=False)

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2


def exit_status(error: BaseException) -> int:
    return EXIT_USAGE if isinstance(error, (ConfigError, ArchiveNotFoundError)) else EXIT_SOME_FAILED


def fail(error: NewsarchiveError, *, debug: bool = False) -> NoReturn:
    """One red line saying what went wrong and where, then the hint; the traceback only with --debug."""
    if debug:
        console.print_exception()
    console.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True, emoji=False)
    if error.hint:
        console.print(f"[dim]hint:[/dim] {escape(error.hint)}", soft_wrap=True)
    sys.exit(exit_status(error))


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
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return (datetime.fromtimestamp(ms / 1000, UTC) + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")


@contextmanager
def update_progress(total: int) -> Iterator[Callable[[SourceReport], None]]:
    """Progress while fetching: a transient bar on a terminal, a plain line per outlet elsewhere."""
    if not console.is_terminal:

        def line(report: SourceReport) -> None:
            state = f"failed: {report.error}" if report.error else f"+{report.new} ~{report.updated} ={report.unchanged}"
            console.print(f"{report.slug}: {state} ({report.seconds:.1f} s)", soft_wrap=True, markup=False)

        yield line
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
    if not console.is_terminal:
        yield lambda done: None
        return
    with console.status(f"{verb}…") as status:
        yield lambda done: status.update(f"{verb}: {done:,} files")


def update_table(report: UpdateReport) -> Table:
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
    console.print(update_table(report))
    for source in report.sources:
        for warning in source.warnings:
            console.print(f"[yellow]warning:[/yellow] {source.slug}: {escape(warning)}", soft_wrap=True)
    print_damage(report.restored, report.damaged)


def print_damage(restored: tuple[tuple[str, str], ...], damaged: tuple[tuple[str, str], ...]) -> None:
    """Damaged files restored, and those still damaged, a line each, with what to do about the latter."""
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
    rate = report.files / report.seconds if report.seconds else 0
    console.print(
        f"{verb}: {report.files} files, {report.imported} indexed, {report.unchanged} already present, "
        f"{report.duplicates} duplicates, {len(report.errors)} skipped in {report.seconds:.1f} s ({rate:,.0f} files/s)"
    )
    for error in report.errors:
        console.print(f"[yellow]skipped:[/yellow] {escape(error)}", soft_wrap=True)


def health_table(rows: list[SourceHealth]) -> Table:
    """The table of health.md, with each outlet's article count and last error besides."""
    from ..health import HEALTH_COLUMNS, health_cells

    table = Table(title="outlets (Beijing time)", title_justify="left")
    for column in (*HEALTH_COLUMNS, "文章 Articles", "上次错误 Last error"):
        table.add_column(column, justify="right" if column.startswith(("24", "文章")) else "left")
    for row in rows:
        error = f"{when(row.last_error_ms)}: {row.last_error}" if row.last_error else ""
        table.add_row(*(escape(cell) for cell in health_cells(row)), str(row.articles), f"[red]{escape(error)}[/red]" if error else "")
    return table


def hit_json(hit: Hit) -> dict[str, Any]:
    return {
        "path": hit.path,
        "source": hit.source,
        "title": hit.title,
        "pub_ms": hit.pub_ms,
        "date": when(hit.pub_ms),
        "score": round(hit.score, 3),
        "snippet": hit.snippet,
    }


def print_hits(hits: list[Hit], name_of: Callable[[str], str]) -> None:
    """Search hits on stdout (they are the command's data), matches in bold."""
    out = Console(highlight=False)
    if not hits:
        console.print("no matches")
    for hit in hits:
        out.print(f"{when(hit.pub_ms)}  {escape(name_of(hit.source))}  [bold]{escape(hit.title)}[/bold]  [dim]{escape(hit.path)}[/dim]")
        marked = escape(hit.snippet).replace("【", "[reverse]").replace("】", "[/reverse]")
        out.print(f"    {marked}", soft_wrap=True)


def print_history(history: History, name_of: Callable[[str], str]) -> None:
    """An article's versions and the changes between them on stdout (they are the command's data): green and red on
    a terminal, {+added+} and [-removed-] elsewhere or under NO_COLOR."""
    from ..diff import segments_text

    out = Console(highlight=False)
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


def print_check(report: CheckReport) -> None:
    """A line per finding (what was repaired, or not), then the counts."""
    for finding in report.findings:
        where = f"{finding.part}: {escape(finding.path)}: {escape(finding.problem)}"
        if finding.repaired:
            console.print(f"[green]repaired:[/green] {where}; {escape(finding.repaired)}", soft_wrap=True)
        else:
            console.print(f"[red]wrong:[/red] {where}", soft_wrap=True)
    counts = ", ".join(f"{count:,} {what.replace('_', ' ')}" for what, count in report.checked.items())
    wrong = sum(1 for finding in report.findings if finding.repaired is None)
    repaired = len(report.findings) - wrong
    verdict = "all well" if not report.findings else f"{wrong} wrong" + (f", {repaired} repaired" if report.repair else "")
    hint = "; `newsarchive check --repair` fixes what can be fixed" if wrong and not report.repair else ""
    console.print(f"check: {verdict} ({counts}) in {report.seconds:.1f} s{hint}", soft_wrap=True)
