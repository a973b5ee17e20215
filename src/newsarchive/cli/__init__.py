"""The command line: thin commands that parse options, call the public API and hand results to output."""

# Annotations are objects here, not strings (no `from __future__ import annotations`): typer reads every command's
# options from them on each start, and evaluating them from strings, four times an option, was a tenth of `--help`.
import inspect
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from ..errors import NewsarchiveError, StorageError
from ..times import ZONE
from ..version import __version__
from . import output
from .output import escape

if TYPE_CHECKING:
    from ..archive import Archive
    from ..models import ImportReport
    from ..outlets import FoundFeed
    from ..scheduler import Round

app = typer.Typer(
    help="Keep a durable archive of news feeds in the duty-machine/news format.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

ArchiveOption = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional here
    typer.Option(
        "--archive", "-a", metavar="DIR", help="The archive folder; default: the archive containing the current folder.", file_okay=False
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of a table.")]
DatabaseOption = Annotated[
    Optional[str],  # noqa: UP045 - typer needs Optional here
    typer.Option(
        "--database",
        metavar="URL",
        envvar="NEWSARCHIVE_DATABASE",
        help="Without --archive, outside an archive: read the archive whose index is in this PostgreSQL database, from a copy.",
    ),
]
CacheOption = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional here
    typer.Option(
        "--cache", metavar="DIR", file_okay=False, help="With --database: where the copy is kept (default: in ~/.cache/newsarchive)."
    ),
]
DAY = f"YYYY-MM-DD, {ZONE}"  # how --since and --until take a day
_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        print(f"newsarchive {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logging.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only errors and what failed: no progress, tables or summaries.")
    ] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    _state["debug"] = debug
    if quiet:
        output.set_quiet()
    if debug:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(relativeCreated)6.0f ms %(name)s: %(message)s")
    else:
        output.log_warnings()


def _replica(archive: Path | None, database: str | None) -> str | None:
    """The database to read a copy of, for a command given ``--database`` (or NEWSARCHIVE_DATABASE) without
    ``--archive`` outside any archive folder; None when the command reads an archive's folder."""
    if not database or archive is not None:
        return None
    from ..config import ClusterConfig
    from ..errors import ArchiveNotFoundError
    from ..store.layout import find_root

    try:
        find_root(Path.cwd())  # the archive's own machine, where the variable also names the cluster's database
        return None
    except ArchiveNotFoundError:
        return ClusterConfig(database=database, key="--database").database or database


def _open(
    archive: Path | None,
    sources_file: Path | None = None,
    proxy: str | None = None,
    *,
    read_only: bool = False,
    database: str | None = None,
    cache: Path | None = None,
) -> "Archive":
    """The archive; ``read_only`` for commands that only read, which then write nothing to it. ``database``: see
    ``_replica``."""
    from ..archive import Archive

    if url := _replica(archive, database):
        from ..archive import open_replica

        return open_replica(url, cache)

    return Archive.open(archive, sources_file=sources_file, overrides={"fetch.proxy": proxy} if proxy else None, read_only=read_only)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Folder to make an archive (created if missing).", file_okay=False)],
    git: Annotated[bool, typer.Option("--git", help="Also make it a git repository, for `newsarchive publish`.")] = False,
) -> None:
    """Make DIR an archive: newsarchive.toml with the default outlets and an empty layout."""
    from ..archive import Archive

    existed = (directory / "newsarchive.toml").exists()
    with Archive.init(directory) as archive:
        output.console.print(f"{'kept the existing' if existed else 'wrote'} {archive.root / 'newsarchive.toml'}")
        if git:
            from ..publish.git import init_repository

            output.console.print(init_repository(archive.root))
        output.console.print(f"archive ready at {archive.root}; next: newsarchive update --archive {directory}")


@app.command()
def update(
    archive: ArchiveOption = None,
    sources: Annotated[
        Path | None,
        typer.Option(
            "--sources",
            metavar="FILE",
            help="A TOML file of [[sources]] that replaces the configured outlets for this run.",
            dir_okay=False,
        ),
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option("--only", metavar="SLUG", help="Update only this outlet (by slug); repeat or separate with commas.")
    ] = None,
    proxy: Annotated[
        str | None, typer.Option("--proxy", metavar="URL", help="Proxy for this run: http://, https://, socks5:// or socks5h:// URL.")
    ] = None,
    recheck: Annotated[
        bool, typer.Option("--recheck", help="Recheck the pages of every article inside recheck.window_days now, whatever the schedule.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Fetch every enabled outlet's feeds and archive what is new or changed; restore damaged article files.

    Exit status: 0 when every outlet succeeded, 1 when some failed (the rest are archived) or some files stay damaged, 2 for usage errors.
    """
    slugs = [slug.strip() for value in only or [] for slug in value.split(",") if slug.strip()]
    with _open(archive, sources, proxy) as opened:
        from ..pipeline import select_sources

        count = len(select_sources(opened.settings.sources, slugs))
        with output.update_progress(count) as progress:
            report = opened.update(only=slugs, on_source_done=progress, recheck=recheck)
    if as_json:
        output.print_json(report.to_json())
    else:
        output.print_update(report)
    raise typer.Exit(output.EXIT_SOME_FAILED if report.failed or report.damaged else output.EXIT_OK)


@app.command("import")
def import_(
    source: Annotated[
        Path, typer.Argument(metavar="SRC", help="A duty-machine archive folder (the one holding articles/).", file_okay=False)
    ],
    archive: ArchiveOption = None,
    as_json: JsonOption = False,
) -> None:
    """Take in an existing duty-machine archive: copy its article files byte for byte and index them."""
    with _open(archive) as opened, output.count_progress("importing") as progress:
        report = opened.import_from(source, on_progress=progress)
    _finish_import(report, "import", as_json)


@app.command()
def reindex(archive: ArchiveOption = None, as_json: JsonOption = False) -> None:
    """Rebuild the index from the archive's files alone."""
    with _open(archive) as opened, output.count_progress("indexing") as progress:
        report = opened.reindex(on_progress=progress)
    _finish_import(report, "reindex", as_json)


def _finish_import(report: "ImportReport", verb: str, as_json: bool) -> None:
    if as_json:
        output.print_json(report.to_json())
    else:
        output.print_import(report, verb)
    raise typer.Exit(output.EXIT_SOME_FAILED if report.errors else output.EXIT_OK)


@app.command()
def publish(
    archive: ArchiveOption = None,
    push: Annotated[bool, typer.Option("--push", help="Also push to every [[mirrors]] of newsarchive.toml.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Commit what the last updates changed, as one commit saying what changed; with --push, push it to every mirror.

    Exit status 1 when a mirror could not be pushed (after the others were); it is pushed again next time.
    """
    with _open(archive) as opened:
        report = opened.publish(push=push)
    if as_json:
        output.print_json(report.to_json())
    else:
        output.console.print(f"committed: {report.message}" if report.commit else "nothing to commit")
        for name in report.pushed:
            output.console.print(f"pushed to {name}")
        for name, error in report.failed:
            output.alerts.print(f"not pushed to {name}: {error}", soft_wrap=True, markup=False, style="red")
    raise typer.Exit(output.EXIT_SOME_FAILED if report.failed else output.EXIT_OK)


@app.command("run")
def run_(
    archive: ArchiveOption = None,
    every: Annotated[str, typer.Option("--every", metavar="DURATION", help="Time between rounds: 1h, 30m, 90s, 1h30m.")] = "1h",
    publish: Annotated[bool, typer.Option("--publish", help="After each update, publish --push.")] = False,
    rounds: Annotated[int | None, typer.Option("--rounds", min=1, help="Stop after this many rounds (default: never).")] = None,
) -> None:
    """Update (and publish) on a schedule, in the foreground, until stopped. SIGINT/SIGTERM stop after the current round."""
    from ..durations import parse_duration
    from ..scheduler import run_forever

    seconds = parse_duration(every)

    def show(round_: "Round") -> None:
        if round_.update is None:
            output.console.print(f"round {round_.number}: skipped, another run holds the archive")
            return
        failed = len(round_.update.failed)
        state = f"{round_.update.new} new, {round_.update.updated} updated" + (f", {failed} outlets failed" if failed else "")
        output.console.print(
            f"round {round_.number}: {state}" + (f"; publish failed: {round_.publish_error}" if round_.publish_error else ""), markup=False
        )

    with _open(archive) as opened:
        run_forever(opened, every=seconds, publish=publish, rounds=rounds, on_round=show)


@app.command()
def schedule(
    archive: ArchiveOption = None,
    kind: Annotated[str, typer.Option("--print", metavar="cron|systemd|github", help="Which schedule to print.")] = "cron",
    package: Annotated[
        str | None,
        typer.Option(
            "--package", metavar="SPEC", help="What the GitHub workflow installs with pip (default: newsarchive as installed here)."
        ),
    ] = None,
) -> None:
    """Print a ready schedule that runs update + publish hourly: a crontab line, a systemd service and timer, or a GitHub
    Actions workflow (with a cache for the index and a keep-alive)."""
    from ..publish.schedule import KINDS, installed_requirement, only_here, render

    if kind not in KINDS:
        raise typer.BadParameter(f"--print takes one of {', '.join(KINDS)}")
    requirement = (package or installed_requirement()) if kind == "github" else None
    with _open(archive) as opened:
        print(render(kind, opened.root, requirement), end="")
    if requirement and only_here(requirement):
        output.alerts.print(
            f"[yellow]warning:[/yellow] the workflow installs {escape(requirement)}, which only this machine can reach (a"
            " self-hosted runner); for GitHub's runners pass --package with an address they can reach, e.g."
            " 'newsarchive @ git+https://github.com/you/newsarchive@main'",
            soft_wrap=True,
        )


def _day(value: str | None, *, end: bool) -> int | None:
    """Milliseconds at the start (or end) of a YYYY-MM-DD day in Beijing time, as the lists count days."""
    if value is None:
        return None
    from ..web.pages import day_ms

    try:
        return day_ms(value, end=end)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command()
def search(
    query: Annotated[
        str, typer.Argument(metavar="QUERY", help='Words or characters, all of which must match; quote a phrase: "一带一路".')
    ],
    archive: ArchiveOption = None,
    source: Annotated[str | None, typer.Option("--source", metavar="SLUG", help="Only this outlet.")] = None,
    since: Annotated[str | None, typer.Option("--since", metavar="DATE", help=f"Published on or after this day ({DAY}).")] = None,
    until: Annotated[str | None, typer.Option("--until", metavar="DATE", help=f"Published on or before this day ({DAY}).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Hits to show.")] = 20,
    sort: Annotated[str, typer.Option("--sort", metavar="relevance|date", help="Best matches first, or newest first.")] = "relevance",
    as_json: JsonOption = False,
    database: DatabaseOption = None,
    cache: CacheOption = None,
) -> None:
    """Search the archive: Chinese of one or more characters (traditional and simplified alike) and English."""
    if sort not in ("relevance", "date"):
        raise typer.BadParameter("--sort takes relevance or date")
    with _open(archive, read_only=True, database=database, cache=cache) as opened:
        since_ms, until_ms = _day(since, end=False), _day(until, end=True)
        hits = opened.search(query, source=source, since_ms=since_ms, until_ms=until_ms, limit=limit, sort=sort)
        if as_json:
            total = opened.count_matches(query, source=source, since_ms=since_ms, until_ms=until_ms) if hits else 0
            output.print_json({"hits": [output.hit_json(hit) for hit in hits], "total": total})
        else:
            output.print_hits(hits, opened.source_name)


@app.command()
def serve(
    archive: ArchiveOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on; 127.0.0.1 keeps the reader to this machine.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: any free one).")] = 8000,
    database: DatabaseOption = None,
    cache: CacheOption = None,
) -> None:
    """Read and search the archive in a browser: outlets, articles with their versions, search with filters."""
    if url := _replica(archive, database):
        from ..store.replica import default_cache
        from ..web.app import serve_replica

        folder = cache or default_cache(url)
        output.console.print(f"copying the archive into {folder} from its database")
        ready = f"reading {folder} at {{}} (Ctrl-C stops)"
        serve_replica(url, folder, host, port, on_ready=lambda address: output.console.print(ready.format(address)))
        return
    with _open(archive, read_only=True) as opened:
        opened.serve(host, port, on_ready=lambda address: output.console.print(f"reading {opened.root} at {address} (Ctrl-C stops)"))


@app.command()
def worker(
    database: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional here
        typer.Option(
            "--database", metavar="URL", envvar="NEWSARCHIVE_DATABASE", help="The cluster's PostgreSQL: postgresql://user:password@host/db."
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=256, help="Jobs done at once.")] = 8,
    lease: Annotated[
        float, typer.Option("--lease", min=1, metavar="SECONDS", help="A job this worker stops renewing goes to another after this long.")
    ] = 30.0,
) -> None:
    """Work an archive's queue from any machine: read the feeds its `update` puts in the cluster's database, until Ctrl-C."""
    import asyncio

    from ..cluster import run_worker
    from ..config import ClusterConfig, database_address

    if not database:
        raise typer.BadParameter("give the cluster's database: --database URL or NEWSARCHIVE_DATABASE", param_hint="--database")
    url = ClusterConfig(database=database, key="--database").database or database
    output.console.print(f"working the queue of {database_address(url)} (Ctrl-C stops)")
    try:
        done = asyncio.run(run_worker(url, concurrency=concurrency, lease_s=lease))
    except KeyboardInterrupt:
        done = None
    output.console.print("stopped" if done is None else f"stopped after {done} jobs")


@app.command("build-site")
def build_site(
    out: Annotated[Path, typer.Argument(metavar="OUT", help="Folder for the site (made if missing).", file_okay=False)],
    archive: ArchiveOption = None,
    base_url: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional here
        typer.Option("--base-url", metavar="URL", help="Where the site will be published: absolute links in the feeds and sitemap."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Write the archive as a static site: pages, Atom feeds, sitemap and a search that works with no server, even from file://."""
    with _open(archive) as opened, output.count_progress("pages") as progress:
        report = opened.build_site(out, base_url=base_url, on_progress=progress)
    if as_json:
        output.print_json(asdict(report))
    else:
        output.console.print(
            f"site in {out.resolve()}: {report.written} files written, {report.unchanged} unchanged, {report.removed} removed"
            f" in {report.seconds:.1f} s; open {out.resolve() / 'index.html'}"
        )


@app.command()
def bundle(
    out: Annotated[Path, typer.Argument(metavar="OUT", help="The zip file to write.", dir_okay=False)],
    archive: ArchiveOption = None,
    since: Annotated[
        str | None, typer.Option("--since", metavar="DATE", help=f"Only articles published on or after this day ({DAY}).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Write one zip for reading offline: the static site with its search, and the raw archive."""
    with _open(archive) as opened:
        report = opened.bundle(out, since_ms=_day(since, end=False))
    if as_json:
        output.print_json(asdict(report))
    else:
        output.console.print(
            f"{report.path}: {report.articles} articles, {report.files} files, {report.bytes / 1e6:.1f} MB in {report.seconds:.1f} s;"
            " unzip it and open index.html"
        )


@app.command()
def sources(archive: ArchiveOption = None, as_json: JsonOption = False, database: DatabaseOption = None, cache: CacheOption = None) -> None:
    """List the outlets with their health: feeds, articles, last success, last error."""
    from ..health import source_health

    with _open(archive, read_only=True, database=database, cache=cache) as opened:
        rows = source_health(opened)
    if as_json:
        output.print_json({"sources": [row.to_json() for row in rows]})
        return
    output.print_health(rows)


@app.command()
def add(
    url: Annotated[str, typer.Argument(metavar="URL", help="The outlet's feed, or a page of its site that names its feed.")],
    archive: ArchiveOption = None,
    name: Annotated[str | None, typer.Option("--name", help="Display name (lists/<name>.md); default: the feed's title.")] = None,
    slug: Annotated[str | None, typer.Option("--slug", help="Folder name under articles/; default: from the host.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Add an outlet to newsarchive.toml: find the feed (on the page, if URL is one), fetch and parse it once to check it."""
    import asyncio

    from ..fetch import Fetcher
    from ..outlets import add_source, find_feed, refuse_duplicate

    if not url.lower().startswith(("http://", "https://")):
        raise typer.BadParameter(f"{url!r} is not an http(s) address", param_hint="URL")
    with _open(archive) as opened:
        refuse_duplicate([url], opened.settings.sources)  # before any request

        async def find() -> "FoundFeed":
            async with Fetcher(opened.settings.fetch) as fetcher:
                return await find_feed(url, fetcher.fetch)

        found = asyncio.run(find())
        source = add_source(opened.root, feeds=[found.url], name=name, slug=slug, title=found.title)
    if as_json:
        output.print_json({"slug": source.slug, "name": source.name, "feeds": list(source.feeds), "items": found.items})
        return
    output.console.print(
        f"added {source.slug} ({source.name}): {found.url}, {found.items} items now;"
        f" `newsarchive update --only {source.slug}` archives them",
        markup=False,
        soft_wrap=True,
    )


@app.command()
def save(
    urls: Annotated[
        Optional[list[str]],  # noqa: UP045 - typer needs Optional here
        typer.Argument(metavar="URL...", help="Pages to archive; none: read them from standard input, one a line."),
    ] = None,
    archive: ArchiveOption = None,
    outlet: Annotated[str | None, typer.Option("--outlet", metavar="SLUG", help="Store them as articles of this outlet.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Archive pages on request: fetch each, take its main text, store it as an article with its images and capture.

    Exit status 1 when some page could not be saved (each is named with the reason).
    """
    import sys

    from ..save import save as save_pages

    wanted = urls or [line for line in sys.stdin.read().splitlines() if line.strip()]
    if not wanted:
        raise typer.BadParameter("give at least one address, or addresses on standard input", param_hint="URL...")
    with _open(archive) as opened:
        results = save_pages(opened, wanted, outlet=outlet)
    if as_json:
        output.print_json({"pages": [result.to_json() for result in results]})
    else:
        for result in results:
            said = {"saved": f"saved as {result.path}", "there": f"already there: {result.path}"}.get(
                result.outcome, f"not saved: {result.reason}"
            )
            output.console.print(f"{result.url}: {said}", markup=False, soft_wrap=True)
    raise typer.Exit(output.EXIT_SOME_FAILED if any(r.outcome == "failed" for r in results) else output.EXIT_OK)


@app.command()
def remove(
    slug: Annotated[str, typer.Argument(metavar="SLUG", help="The outlet's slug (see `newsarchive sources`).")],
    archive: ArchiveOption = None,
    keep_files: Annotated[
        bool,
        typer.Option(
            "--keep-files/--delete-files",
            help="Keep the outlet's articles, revisions and list in the archive (the default), or delete them and reindex.",
        ),
    ] = True,
) -> None:
    """Take an outlet out of newsarchive.toml; its articles stay in the archive unless --delete-files is given."""
    from ..outlets import delete_outlet_files, remove_source

    with _open(archive) as opened:
        if not keep_files:
            with opened.lock():  # no file goes while another run holds the archive
                source = remove_source(opened.root, slug)
                removed = delete_outlet_files(opened.root, source, opened.settings.sources)
            opened.reindex()
            output.console.print(f"removed {slug} ({source.name}) and its {removed:,} files; the index was rebuilt", markup=False)
            return
        source = remove_source(opened.root, slug)
    output.console.print(
        f"removed {slug} ({source.name}) from newsarchive.toml; its articles stay in articles/ (--delete-files removes them)",
        markup=False,
        soft_wrap=True,
    )


opml_app = typer.Typer(help="Move the list of outlets in and out as OPML 2.0, as feed readers do.", no_args_is_help=True)
app.add_typer(opml_app, name="opml")


@opml_app.command("import")
def opml_import(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="An OPML file, as Miniflux, FreshRSS or Feedly export it.", dir_okay=False)],
    archive: ArchiveOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add the feeds of an OPML file as outlets: duplicates are skipped, bad entries refused, the rest written at once."""
    from ..errors import ConfigError
    from ..outlets import import_opml, parse_opml

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read it: {exc.strerror}") from None
    with _open(archive) as opened:
        report = import_opml(opened.root, parse_opml(data, str(file)))
    if as_json:
        output.print_json(report.to_json())
        return
    for source in report.added:
        output.console.print(f"added    {source.slug} ({source.name}): {', '.join(source.feeds)}", markup=False, soft_wrap=True)
    for feed, owner in report.duplicates:
        output.console.print(f"skipped  {feed}: outlet {owner} has it already", markup=False, soft_wrap=True)
    for feed, reason in report.refused:
        output.console.print(f"refused  {feed}: {reason}", markup=False, soft_wrap=True)
    output.console.print(
        f"{len(report.added)} outlets added, {len(report.duplicates)} feeds skipped as duplicates, {len(report.refused)} refused"
    )


@opml_app.command("export")
def opml_export(
    archive: ArchiveOption = None,
    out: Annotated[
        Optional[Path],  # noqa: UP045 - typer needs Optional here
        typer.Option("--output", "-o", metavar="FILE", help="Write to FILE instead of stdout.", dir_okay=False),
    ] = None,
) -> None:
    """Write the enabled outlets as OPML 2.0, one outline per feed, for a feed reader or another archive."""
    import sys

    from ..outlets import render_opml

    with _open(archive, read_only=True) as opened:
        data = render_opml(opened.settings.sources, opened.settings.title)
    if out is None:
        sys.stdout.buffer.write(data)
        return
    from ..store.atomic import AtomicBatch

    batch = AtomicBatch()
    batch.write(out, data)
    batch.commit()
    output.console.print(f"wrote {out}", markup=False)


@app.command()
def export(
    archive: ArchiveOption = None,
    format_: Annotated[str, typer.Option("--format", metavar="jsonl|parquet", help="JSON Lines (one object a line) or Parquet.")] = "jsonl",
    source: Annotated[str | None, typer.Option("--source", metavar="SLUG", help="Only this outlet.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", metavar="DATE", help=f"Only articles published on or after this day ({DAY}).")
    ] = None,
    out: Annotated[
        Optional[Path],  # noqa: UP045 - typer needs Optional here
        typer.Option("--output", "-o", metavar="FILE", help="Write to FILE (complete or not at all) instead of stdout.", dir_okay=False),
    ] = None,
    database: DatabaseOption = None,
    cache: CacheOption = None,
) -> None:
    """Export every version of every article (text, HTML, links, images) for research, as JSON Lines or Parquet.

    Exit status 1 when some files could not be read (each is named on stderr; the rest are exported).
    """
    import os
    import sys

    def skipped(path: str, reason: str) -> None:
        output.alerts.print(f"[yellow]warning:[/yellow] {escape(path)}: {escape(reason)}; skipped", soft_wrap=True)

    since_ms, target = _day(since, end=False), out or sys.stdout.buffer
    try:
        with _open(archive, read_only=True, database=database, cache=cache) as opened, output.count_progress("exporting") as progress:
            report = opened.export(target, format=format_, source=source, since_ms=since_ms, on_skip=skipped, on_progress=progress)
    except BrokenPipeError:  # the reader of stdout stopped early (`| head`): say nothing more, write nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(output.EXIT_SOME_FAILED) from None
    output.console.print(
        f"exported {report.records:,} versions of {report.articles:,} articles to {report.output or 'stdout'} in {report.seconds:.1f} s"
        + (f"; {report.skipped:,} files skipped" if report.skipped else "")
    )
    raise typer.Exit(output.EXIT_SOME_FAILED if report.skipped else output.EXIT_OK)


@app.command()
def media(
    archive: ArchiveOption = None,
    stats: Annotated[bool, typer.Option("--stats", help="Count the images kept, their bytes, failures and those not tried yet.")] = False,
    prune: Annotated[bool, typer.Option("--prune", help="List the stored images no article refers to (removed with --yes).")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="With --prune: really remove them.")] = False,
    backfill: Annotated[
        int | None,
        typer.Option(
            "--backfill", metavar="N", min=1, help="Read the images of up to N older articles now, newest first (updates download them)."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Count the images kept in media/ (the default), prune those no article shows (a dry run unless --yes), or read
    older articles' images now."""
    with _open(archive, read_only=backfill is None and not prune) as opened:
        if backfill is not None:
            read = opened.backfill_media(backfill)
            left, pending = opened.index.count_images_unread(), opened.media_stats().pending
            if as_json:
                output.print_json({"articles": read, "articles_left": left, "pending": pending})
                return
            output.console.print(
                f"images of {read:,} articles read; {left:,} articles left; {pending:,} images not tried yet (updates download them)"
            )
            return
        if prune:
            report = opened.prune_media(dry_run=not yes)
            if as_json:
                output.print_json({"files": report.files, "bytes": report.bytes, "rows": report.rows, "removed": yes})
                return
            for path in report.files:
                output.console.print(escape(path), soft_wrap=True)
            verb = "removed" if yes else "would remove (run again with --yes)"
            output.console.print(f"{verb}: {len(report.files):,} files, {report.bytes:,} bytes; {report.rows:,} addresses forgotten")
            return
        figures = opened.media_stats()
    if as_json:
        output.print_json(dict(vars(figures)))
        return
    output.console.print(
        f"{figures.images:,} images, {figures.bytes:,} bytes; {figures.failed:,} failed, {figures.pending:,} not tried yet,"
        f" {figures.skipped:,} skipped (1x1)"
    )


@app.command()
def check(
    archive: ArchiveOption = None,
    repair: Annotated[bool, typer.Option("--repair", help="Fix what can be fixed (without it, nothing is written).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Check the whole archive against its index and back: every article file and revision, the lists, images, WARC
    files and the search index. Exit status 1 when something is wrong (with --repair: still wrong after repairing)."""
    with _open(archive, read_only=not repair) as opened:
        report = opened.check(repair=repair)
    if as_json:
        output.print_json(report.to_json())
    else:
        output.print_check(report)
    raise typer.Exit(output.EXIT_OK if report.ok else output.EXIT_SOME_FAILED)


@app.command()
def migrate(
    to: Annotated[
        str, typer.Option("--to", metavar="sqlite|postgresql://…", help="Where the index goes: sqlite, or a PostgreSQL address.")
    ],
    archive: ArchiveOption = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Empty a target that already holds an index first (its rows are lost).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Move the archive's index between SQLite and PostgreSQL; the files never move."""
    from ..migrate import SQLITE, migrate_index

    with _open(archive) as opened:
        report = migrate_index(opened.root, opened.settings.cluster.database, to, replace=replace)
    if as_json:
        output.print_json(report.to_json())
        return
    output.console.print(f"migrate: {sum(report.rows.values()):,} rows from {report.source} to {report.target} in {report.seconds:.1f} s")
    if to == SQLITE:
        output.console.print("next: remove [cluster] database from newsarchive.toml and unset NEWSARCHIVE_DATABASE")
    else:
        output.console.print(f"next: set NEWSARCHIVE_DATABASE (or [cluster] database in newsarchive.toml) to {report.target}")


@app.command()
def doctor(archive: ArchiveOption = None, as_json: JsonOption = False) -> None:
    """Check the configuration, every feed, git and the mirrors, and say what to fix. Exit status 1 when something is wrong."""
    from ..doctor import diagnose

    with _open(archive) as opened:
        checks = diagnose(opened)
    if as_json:
        output.print_json({"checks": [check.to_json() for check in checks]})
    else:
        for check in checks:
            mark = "[green]ok[/green]  " if check.ok else "[red]FIX[/red] "
            fix = f" [dim]→ {escape(check.fix)}[/dim]" if check.fix and not check.ok else ""
            (output.console if check.ok else output.alerts).print(
                f"{mark}{escape(check.subject)}: {escape(check.detail)}{fix}", soft_wrap=True
            )
    raise typer.Exit(output.EXIT_OK if all(check.ok for check in checks) else output.EXIT_SOME_FAILED)


@app.command()
def history(
    article: Annotated[
        str,
        typer.Argument(
            metavar="URL|FILE|SLUG/ID", help="The article: its link, its file (articles/rfi/1048574.md) or outlet/id (rfi/1048574)."
        ),
    ],
    archive: ArchiveOption = None,
    source: Annotated[str | None, typer.Option("--source", metavar="SLUG", help="Look only in this outlet (for a link or an id).")] = None,
    as_json: JsonOption = False,
    database: DatabaseOption = None,
    cache: CacheOption = None,
) -> None:
    """Print an article's versions (when each was first seen, title, length) and what changed from each to the next."""
    with _open(archive, read_only=True, database=database, cache=cache) as opened:
        found = opened.history(article, source=source)
        if as_json:
            output.print_json(found.to_json())
        else:
            output.print_history(found, opened.source_name)


@app.command()
def takedowns(
    archive: ArchiveOption = None,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="DATE", help=f"Only takedowns confirmed on or after this day ({DAY})."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List the articles the outlets removed (found gone by a recheck, confirmed on a later run), newest first."""
    with _open(archive, read_only=True) as opened:
        found = opened.takedowns(since_ms=_day(since, end=False))
    if as_json:
        output.print_json({"takedowns": [takedown.to_json() for takedown in found]})
        return
    for takedown in found:
        when = output.when(takedown.confirmed_ms)
        output.console.print(f"{when}  {escape(takedown.path)}  {escape(takedown.title)}  ({escape(takedown.how)})", soft_wrap=True)
    output.console.print(f"{len(found)} takedown{'s' * (len(found) != 1)}" + (f"; confirmed, {ZONE}" if found else ""))


@app.command()
def demo(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Folder for the demo archive.", file_okay=False)] = Path("demo-archive"),
) -> None:
    """Archive the built-in sample outlets, served on 127.0.0.1, into DIR: nothing leaves this machine."""
    from ..demo import demo_archive, serve_samples

    with serve_samples() as proxy, demo_archive(directory, proxy) as archive:
        samples = [source.slug for source in archive.settings.sources]
        with output.update_progress(len(samples)) as progress:
            report = archive.update(only=samples, on_source_done=progress)  # tried now, even after failing runs without it
        output.print_update(report)
        site = archive.build_site(archive.root / "site")
        output.console.print(f"archive written to {archive.root}: see {archive.root / 'README.md'} and {archive.root / 'articles'}")
        output.console.print(
            f"read it: open {archive.root / 'site' / 'index.html'} ({site.written} files), or run `newsarchive serve -a {archive.root}`"
        )
    raise typer.Exit(output.EXIT_SOME_FAILED if report.failed else output.EXIT_OK)


class _Command(TyperCommand):
    """Usage written as command lines conventionally are: ``DIR`` for a required argument (typer writes ``{DIR}``)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [piece[1:-1] if piece[:1] == "{" and piece[-1:] == "}" else piece for piece in super().collect_usage_pieces(ctx)]


class _Group(TyperGroup):
    """A group whose --help, when not given, is False rather than None: typer converts every other value of an
    option through a pydantic TypeAdapter, and importing pydantic for it took 60 ms of each `COMMAND --help`."""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            option.default = False
        return option


def _summary(help_text: str) -> str:
    """The first whole sentence of a help text: what the list of commands shows (else cut at 45 characters)."""
    return " ".join(help_text.split("\n\n")[0].split()).split(". ")[0].rstrip(".") + "."


def _follow_conventions(group: typer.Typer) -> None:
    """Every command: conventional usage, and its first whole sentence as its summary; the same in sub-groups."""
    group.info.cls = _Group
    for command in group.registered_commands:
        command.cls = _Command
        command.short_help = _summary(inspect.getdoc(command.callback) or "")
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            sub.short_help = _summary(str(sub.typer_instance.info.help))
            _follow_conventions(sub.typer_instance)


_follow_conventions(app)


def main() -> None:
    try:
        app(prog_name="newsarchive")  # also under python -m newsarchive
    except NewsarchiveError as error:
        output.fail(error, debug=_state["debug"])
    except KeyboardInterrupt:
        output.console.print("interrupted")
        raise SystemExit(130) from None
    except OSError as error:  # last resort: a file or disk failure no layer below named more precisely
        output.fail(StorageError.from_os_error(error), debug=_state["debug"])
    except Exception as error:  # last resort: never a bare traceback; --debug shows it
        output.fail(
            NewsarchiveError(
                f"unexpected {type(error).__name__}: {error}",
                hint="this is a bug in newsarchive: run the command again with --debug and report what it prints",
            ),
            debug=_state["debug"],
        )
