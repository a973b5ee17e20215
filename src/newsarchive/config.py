"""Settings: frozen value objects with named defaults, resolved once by ``load_settings``.

Precedence: command-line overrides, then ``NEWSARCHIVE_*`` environment variables, then
``newsarchive.toml``, then the defaults below. Nothing else reads the environment or the TOML.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .sources import DEFAULT_SOURCES, Source, bad_proxy, header_text, source_fields, sources_from_tables
from .version import __version__

CONFIG_FILE = "newsarchive.toml"

DEFAULT_USER_AGENT = f"newsarchive/{__version__} (news archiver)"
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 30.0
DEFAULT_TOTAL_TIMEOUT = 60.0
DEFAULT_LOW_SPEED_LIMIT = 1024  # bytes per second, over DEFAULT_LOW_SPEED_TIME: curl's --speed-limit and --speed-time
DEFAULT_LOW_SPEED_TIME = 15.0
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_PER_HOST = 2
DEFAULT_CONCURRENCY = 16
DEFAULT_RETRIES = 2
DEFAULT_BACKOFF = 1.0
DEFAULT_MAX_RETRY_AFTER = 60.0
DEFAULT_MAX_REDIRECTS = 5
DEFAULT_LIST_SIZE = 300
DEFAULT_TITLE = "抓取新闻媒体文章"
DEFAULT_WARC = True

# One registry of settings with their help text: the docs and `init` are checked against it.
SETTINGS_HELP: Mapping[str, str] = {
    "archive.title": "heading of the archive's README.md",
    "archive.list_size": "how many of an outlet's newest articles lists/<name>.md shows",
    "archive.warc": "keep every response fetched, with its request, in warc/<UTC day>.warc.gz (WARC 1.1)",
    "fetch.user_agent": "User-Agent header sent with every request",
    "fetch.proxy": "proxy for all fetching: http://, https://, socks5:// or socks5h:// (else HTTP(S)_PROXY/ALL_PROXY)",
    "fetch.connect_timeout": "seconds to wait for a connection",
    "fetch.read_timeout": "seconds to wait for the next bytes of a response",
    "fetch.total_timeout": "seconds one feed may take in all, retries included",
    "fetch.low_speed_limit": "bytes per second a response must bring over fetch.low_speed_time, else it is cut off (0: no limit)",
    "fetch.low_speed_time": "seconds over which fetch.low_speed_limit is measured, from the request on",
    "fetch.max_bytes": "largest response accepted, after decompression",
    "fetch.per_host": "requests at once to one host",
    "fetch.concurrency": "requests at once in all",
    "fetch.retries": "retries after a network error, a 5xx or a 429",
    "fetch.backoff": "seconds before the first retry; doubled for each further one",
    "fetch.max_retry_after": "longest Retry-After honoured, in seconds",
    "fetch.max_redirects": "redirects followed at most",
    "publish.include": "what `publish` commits: files and folders of the archive",
    "publish.branch": "the branch pushed to every mirror (default: the current one)",
    "publish.warc": "also commit the WARC captures (they grow fast)",
    "site.base_url": "address where the static site is published: absolute links in Atom feeds and the sitemap",
    "site.page_size": "articles per page of an outlet's list and of search results",
    "site.remote_images": "show images from the outlets' servers (else a link to each; nothing loads from another host)",
    "media.enabled": "download the images articles show into media/ after each update",
    "media.max_image_bytes": "largest image kept; a larger one is refused and not tried again",
    "media.max_run_bytes": "image bytes one update downloads at most; the rest wait for the next",
    "media.backfill_per_run": "older articles (stored before images were kept, or imported) whose images one update reads (0: none)",
    "search.backend": "the search engine of `search`, the reader and the API; today only tantivy",
    "search.writer_memory_mb": "memory the search engine's writer may take while indexing, in MB (more: a large import merges less)",
    "search.index_on_update": "bring the search index up to date at the end of `update`, `import` and `save` (false: first search does)",
    "recheck.window_days": "days after an article is first seen during which its page is rechecked for edits and takedowns",
    "recheck.per_run": "article pages one update rechecks at most (0: no rechecks)",
    "recheck.schedule_hours": "hours between rechecks: the first gap, the second, …; the last one repeats",
    "recheck.confirm_hours": "hours before a page found gone is checked again; gone again, it is recorded as a takedown",
    "cluster.database": "postgresql://… address of a PostgreSQL database that holds the index (default: SQLite beside the files)",
}


@dataclass(frozen=True, kw_only=True)
class FetchConfig:
    """How feeds are fetched: deadlines, limits, retries, identity and proxy."""

    user_agent: str = DEFAULT_USER_AGENT
    proxy: str | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    total_timeout: float = DEFAULT_TOTAL_TIMEOUT
    low_speed_limit: int = DEFAULT_LOW_SPEED_LIMIT
    low_speed_time: float = DEFAULT_LOW_SPEED_TIME
    max_bytes: int = DEFAULT_MAX_BYTES
    per_host: int = DEFAULT_PER_HOST
    concurrency: int = DEFAULT_CONCURRENCY
    retries: int = DEFAULT_RETRIES
    backoff: float = DEFAULT_BACKOFF
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER
    max_redirects: int = DEFAULT_MAX_REDIRECTS

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout", "total_timeout", "low_speed_time"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"fetch.{name} must be a positive number of seconds")
        for name in ("max_bytes", "per_host", "concurrency"):
            if getattr(self, name) < 1:
                raise ConfigError(f"fetch.{name} must be at least 1")
        for name in ("retries", "max_redirects", "backoff", "max_retry_after", "low_speed_limit"):
            if getattr(self, name) < 0:
                raise ConfigError(f"fetch.{name} cannot be negative")
        if not self.user_agent.strip() or not header_text(self.user_agent):
            raise ConfigError(
                f"fetch.user_agent {self.user_agent!r} must be one line of text", hint="printable ASCII: HTTP headers carry no other"
            )
        if self.proxy and bad_proxy(self.proxy):
            raise ConfigError(
                f"fetch.proxy {self.proxy!r} is not a proxy address",
                hint="use http://host:port, https://host:port, socks5://host:port or socks5h://host:port",
            )


@dataclass(frozen=True, kw_only=True)
class Mirror:
    """A git remote the archive is pushed to: any URL git understands (GitHub, GitLab, Codeberg, a path); and, when
    readers can browse it (a Pages site, a Gitee page, an IPFS gateway), that address, listed where readers look."""

    name: str
    url: str
    read_url: str | None = None


@dataclass(frozen=True, kw_only=True)
class PublishConfig:
    """What `publish` commits, and to which branch it pushes (default: the current one)."""

    include: tuple[str, ...] = (
        *("README.md", "newsarchive.toml", "lists", "articles", "revisions"),
        *("health.json", "health.md", "media", "takedowns"),
    )
    branch: str | None = None
    warc: bool = False  # WARC captures grow fast: into git only when asked

    def paths(self) -> tuple[str, ...]:
        return self.include + (("warc",) if self.warc else ())


@dataclass(frozen=True, kw_only=True)
class RecheckConfig:
    """How often recent articles' pages are looked at again (recheck.py)."""

    window_days: int = 30
    per_run: int = 200
    schedule_hours: tuple[float, ...] = (1, 2, 3, 6, 12, 24)  # often in the first hours, then daily
    confirm_hours: float = 1

    def __post_init__(self) -> None:
        for name in ("window_days", "per_run"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"recheck.{name} = {value!r} must be a whole number of at least 0")
        hours = self.schedule_hours
        if not hours or not all(isinstance(h, int | float) and not isinstance(h, bool) and h > 0 for h in hours):
            raise ConfigError(f"recheck.schedule_hours = {list(hours)!r} must be a list of hours above 0")
        if not isinstance(self.confirm_hours, int | float) or isinstance(self.confirm_hours, bool) or self.confirm_hours < 0:
            raise ConfigError(f"recheck.confirm_hours = {self.confirm_hours!r} must be a number of hours of at least 0")


@dataclass(frozen=True, kw_only=True)
class MediaConfig:
    """Which images are kept in the archive (media.py), and how much one run may download."""

    enabled: bool = True
    max_image_bytes: int = 10 * 1024 * 1024
    max_run_bytes: int = 500 * 1024 * 1024
    backfill_per_run: int = 300  # a large imported archive is covered over many runs, none of them long

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ConfigError("media.enabled must be true or false")
        for name, least in (("max_image_bytes", 1), ("max_run_bytes", 1), ("backfill_per_run", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ConfigError(f"media.{name} = {value!r} must be a whole number of at least {least}")


SEARCH_BACKENDS = ("tantivy",)


@dataclass(frozen=True, kw_only=True)
class SearchConfig:
    """The search engine behind `search`, the reader and the API (index/search.py opens it from this)."""

    backend: str = "tantivy"
    writer_memory_mb: int = 200  # bounds what an import or reindex of any size uses (see index/search.py)
    # Off, a run leaves indexing to the first `search`, reader or API request, which catch up on what is new: for
    # an archive searched rarely, or a first import on a slow machine.
    index_on_update: bool = True

    def __post_init__(self) -> None:
        if self.backend not in SEARCH_BACKENDS:
            raise ConfigError(
                f"search.backend = {self.backend!r} is not a search engine newsarchive has", hint=f"known: {', '.join(SEARCH_BACKENDS)}"
            )
        value = self.writer_memory_mb
        if not isinstance(value, int) or isinstance(value, bool) or value < 16:
            raise ConfigError(f"search.writer_memory_mb = {value!r} must be a whole number of at least 16")
        if not isinstance(self.index_on_update, bool):
            raise ConfigError(f"search.index_on_update = {self.index_on_update!r} must be true or false")


@dataclass(frozen=True, kw_only=True)
class SiteConfig:
    """How the reader (`serve`) and the static site (`build-site`) show the archive."""

    base_url: str | None = None
    page_size: int = 50
    remote_images: bool = False  # readers' browsers contact no outlet unless asked

    def __post_init__(self) -> None:
        if self.page_size < 1:
            raise ConfigError("site.page_size must be at least 1")
        if self.base_url is not None and not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"site.base_url = {self.base_url!r} is not an http(s) address", hint='e.g. "https://you.github.io/news/"')


def database_address(url: str) -> str:
    """A database address fit to show: without its password (in the user part or as ``password=`` in the query)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    where, slash, tail = rest.partition("/")
    if "@" in where:
        user, at, host = where.rpartition("@")
        where = user.partition(":")[0] + at + host
    path, question, query = tail.partition("?")
    if question:
        query = "&".join(part for part in query.split("&") if not part.lower().startswith("password="))
    return f"{scheme}{sep}{where}{slash}{path}" + (f"?{query}" if query else "")


@dataclass(frozen=True, kw_only=True)
class ClusterConfig:
    """Where the index lives when it is not the SQLite file beside the archive: a PostgreSQL database."""

    database: str | None = None  # postgresql://user:password@host:port/dbname; None: SQLite
    key: str = "cluster.database"  # the setting or variable it came from, named in errors

    def __post_init__(self) -> None:
        if self.database is not None and not (
            isinstance(self.database, str) and self.database.startswith(("postgresql://", "postgres://"))
        ):
            raise ConfigError(
                f"{self.key} is not a PostgreSQL address: it must start with postgresql:// or postgres://",
                hint="give postgresql://user:password@host:5432/dbname (or postgresql:///dbname for the local socket)",
            )


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a run needs, gathered from flags, environment, newsarchive.toml and defaults."""

    title: str = DEFAULT_TITLE
    list_size: int = DEFAULT_LIST_SIZE
    warc: bool = DEFAULT_WARC  # raw captures of every response: any article can be traced to the bytes served
    fetch: FetchConfig = field(default_factory=FetchConfig)
    sources: tuple[Source, ...] = DEFAULT_SOURCES
    mirrors: tuple[Mirror, ...] = ()
    publish: PublishConfig = field(default_factory=PublishConfig)
    site: SiteConfig = field(default_factory=SiteConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    recheck: RecheckConfig = field(default_factory=RecheckConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)

    def __post_init__(self) -> None:
        if self.list_size < 1:
            raise ConfigError("archive.list_size must be at least 1")

    def source(self, slug: str) -> Source | None:
        return next((s for s in self.sources if s.slug == slug), None)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file", hint="give the path of an existing TOML file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", hint="fix the TOML syntax at the place named") from exc


def _section(data: Mapping[str, Any], name: str, where: Path, allowed: set[str]) -> dict[str, Any]:
    section = data.get(name, {})
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    unknown = set(section) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown setting {name}.{sorted(unknown)[0]}", hint=f"known: {', '.join(sorted(allowed))}")
    return section


def _fetch_config(values: Mapping[str, Any], where: str) -> FetchConfig:
    kinds = {f.name: f.type for f in fields(FetchConfig)}
    converted: dict[str, Any] = {}
    for key, value in values.items():
        kind = str(kinds[key])
        try:
            if "float" in kind:
                converted[key] = float(value)
            elif "int" in kind:
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError(value)
                converted[key] = int(value)
            else:
                converted[key] = None if value in ("", None) else str(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: fetch.{key} = {value!r} is not a {kind.split()[0]}") from None
    return FetchConfig(**converted)


def load_settings(
    archive_root: str | os.PathLike[str] | None,
    *,
    sources_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Resolve the settings of one run.

    ``sources_file`` replaces the configured outlets for this run. ``overrides`` holds
    ``fetch.<key>`` values from the command line.
    """
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    config_path = Path(archive_root) / CONFIG_FILE if archive_root is not None else None
    if config_path and config_path.exists():
        data = _read_toml(config_path)
    where = config_path or Path(CONFIG_FILE)
    unknown = set(data) - {"archive", "fetch", "sources", "mirrors", "publish", "site", "media", "recheck", "search", "cluster"}
    if unknown:
        raise ConfigError(
            f"{where}: unknown section [{sorted(unknown)[0]}]",
            hint="known: [archive], [fetch], [publish], [site], [media], [recheck], [search], [cluster], [[sources]], [[mirrors]]",
        )
    archive = _section(data, "archive", where, {"title", "list_size", "warc"})
    fetch_values = _section(data, "fetch", where, {f.name for f in fields(FetchConfig)})
    given: dict[str, str] = {}  # fetch settings from the environment or an option: a bad one is blamed there, not on the file
    for f in fields(FetchConfig):
        env_value = env.get(f"NEWSARCHIVE_{f.name.upper()}")
        if env_value is not None:
            fetch_values[f.name], given[f.name] = env_value, f"NEWSARCHIVE_{f.name.upper()}"
    for key, value in (overrides or {}).items():
        name = key.removeprefix("fetch.")
        fetch_values[name], given[name] = value, "--" + name.replace("_", "-")
    for name, label in given.items():
        try:
            _fetch_config({name: fetch_values[name]}, label)
        except ConfigError as exc:
            raise ConfigError(str(exc).removeprefix(f"{label}: ").replace(f"fetch.{name}", label, 1), hint=exc.hint) from None
    sources = DEFAULT_SOURCES
    if "sources" in data:
        if not isinstance(data["sources"], list):
            raise ConfigError(f"{where}: sources must be an array of tables: [[sources]]")
        sources = sources_from_tables(data["sources"], str(where), where.parent)
    if sources_file is not None:
        sources_file = Path(sources_file)
        extra = _read_toml(sources_file)
        tables = extra.get("sources")
        if not isinstance(tables, list) or not tables:
            raise ConfigError(f"{sources_file}: has no [[sources]] tables", hint="add [[sources]] with name, slug and feeds")
        sources = sources_from_tables(tables, str(sources_file), sources_file.resolve().parent)
    list_size = archive.get("list_size", DEFAULT_LIST_SIZE)
    if not isinstance(list_size, int) or isinstance(list_size, bool):
        raise ConfigError(f"{where}: archive.list_size = {list_size!r} is not a whole number")
    cluster = _cluster_config(_section(data, "cluster", where, {"database"}), env, where)
    warc = archive.get("warc", DEFAULT_WARC)
    if not isinstance(warc, bool):
        raise ConfigError(f"{where}: archive.warc = {warc!r} must be true or false")
    try:
        return Settings(
            title=str(archive.get("title", DEFAULT_TITLE)),
            list_size=list_size,
            warc=warc,
            mirrors=_mirrors(data.get("mirrors", []), where),
            publish=_publish_config(_section(data, "publish", where, {"include", "branch", "warc"}), where),
            site=_site_config(_section(data, "site", where, {f.name for f in fields(SiteConfig)})),
            media=MediaConfig(**_section(data, "media", where, {f.name for f in fields(MediaConfig)})),
            recheck=_recheck_config(_section(data, "recheck", where, {f.name for f in fields(RecheckConfig)})),
            search=SearchConfig(**_section(data, "search", where, {f.name for f in fields(SearchConfig)})),
            fetch=_fetch_config(fetch_values, str(where)),
            sources=sources,
            cluster=cluster,
        )
    except ConfigError as exc:
        if str(where) in str(exc):
            raise
        raise ConfigError(f"{where}: {exc}", hint=exc.hint) from None


def _mirrors(tables: Any, where: Path) -> tuple[Mirror, ...]:
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{where}: mirrors must be an array of tables: [[mirrors]]")
    mirrors = []
    for table in tables:
        name, url, read_url = table.get("name"), table.get("url"), table.get("read_url")
        if not isinstance(name, str) or not isinstance(url, str) or not name or not url or set(table) - {"name", "url", "read_url"}:
            raise ConfigError(
                f"{where}: a [[mirrors]] table needs name and url, and may have read_url",
                hint='name = "github", url = "git@github.com:you/news.git", read_url = "https://you.github.io/news/"',
            )
        if read_url is not None and (not isinstance(read_url, str) or not read_url.startswith(("https://", "http://"))):
            raise ConfigError(
                f"{where}: mirror {name!r}: read_url = {read_url!r} is not a web address",
                hint="give where readers browse this mirror, starting with https://",
            )
        mirrors.append(Mirror(name=name, url=url, read_url=read_url))
    if len({m.name for m in mirrors}) != len(mirrors):
        raise ConfigError(f"{where}: two [[mirrors]] share a name")
    return tuple(mirrors)


def _publish_config(values: dict[str, Any], where: Path) -> PublishConfig:
    include = values.get("include", PublishConfig().include)
    branch = values.get("branch")
    warc = values.get("warc", False)
    if not isinstance(include, list | tuple) or not all(isinstance(p, str) and p and not p.startswith(("/", "..")) for p in include):
        raise ConfigError(f"{where}: publish.include must be a list of paths inside the archive")
    if branch is not None and not (isinstance(branch, str) and branch):
        raise ConfigError(f"{where}: publish.branch must be a branch name")
    if not isinstance(warc, bool):
        raise ConfigError(f"{where}: publish.warc must be true or false")
    return PublishConfig(include=tuple(include), branch=branch, warc=warc)


def _recheck_config(values: dict[str, Any]) -> RecheckConfig:
    hours = values.pop("schedule_hours", None)
    if hours is None:
        return RecheckConfig(**values)
    if not isinstance(hours, list):
        raise ConfigError(f"recheck.schedule_hours = {hours!r} must be a list of hours above 0")
    return RecheckConfig(**values, schedule_hours=tuple(hours))


def _cluster_config(values: dict[str, Any], env: Mapping[str, str], where: Path) -> ClusterConfig:
    """``[cluster] database``, or ``NEWSARCHIVE_DATABASE``, which wins; a bad one is blamed on where it came from."""
    if "NEWSARCHIVE_DATABASE" in env:
        return ClusterConfig(database=env["NEWSARCHIVE_DATABASE"] or None, key="NEWSARCHIVE_DATABASE")
    return ClusterConfig(database=values.get("database"), key=f"{where}: cluster.database")


def _site_config(values: dict[str, Any]) -> SiteConfig:
    page_size, remote_images, base_url = values.get("page_size", 50), values.get("remote_images", False), values.get("base_url")
    if not isinstance(page_size, int) or isinstance(page_size, bool):
        raise ConfigError(f"site.page_size = {page_size!r} is not a whole number")
    if not isinstance(remote_images, bool):
        raise ConfigError("site.remote_images must be true or false")
    if base_url is not None and not isinstance(base_url, str):
        raise ConfigError("site.base_url must be an address")
    return SiteConfig(base_url=base_url, page_size=page_size, remote_images=remote_images)


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def render_config(sources: tuple[Source, ...] = DEFAULT_SOURCES, title: str = DEFAULT_TITLE) -> str:
    """The newsarchive.toml that ``init`` writes: every setting shown, commented, with its default."""
    defaults = FetchConfig()
    lines = [
        "# newsarchive configuration. Documented in the project's README, section Configuration.",
        "",
        "[archive]",
        f"title = {_toml_string(title)}",
        f"# list_size = {DEFAULT_LIST_SIZE}    # {SETTINGS_HELP['archive.list_size']}",
        f"# warc = {str(DEFAULT_WARC).lower()}    # {SETTINGS_HELP['archive.warc']}",
        "",
        "[fetch]",
    ]
    for f in fields(FetchConfig):
        value = getattr(defaults, f.name)
        shown = _toml_string(value) if isinstance(value, str) else ('""' if value is None else repr(value))
        lines.append(f"# {f.name} = {shown}    # {SETTINGS_HELP['fetch.' + f.name]}")
    publish = PublishConfig()
    include = ", ".join(_toml_string(path) for path in publish.include)
    lines += [
        "",
        "[publish]",
        f"# include = [{include}]    # {SETTINGS_HELP['publish.include']}",
        f'# branch = "main"    # {SETTINGS_HELP["publish.branch"]}',
        f"# warc = false    # {SETTINGS_HELP['publish.warc']}",
        "",
        "[site]",
        f'# base_url = "https://you.github.io/news/"    # {SETTINGS_HELP["site.base_url"]}',
        f"# page_size = 50    # {SETTINGS_HELP['site.page_size']}",
        f"# remote_images = false    # {SETTINGS_HELP['site.remote_images']}",
        "",
        "[media]",
        f"# enabled = true    # {SETTINGS_HELP['media.enabled']}",
        f"# max_image_bytes = {MediaConfig().max_image_bytes}    # {SETTINGS_HELP['media.max_image_bytes']}",
        f"# max_run_bytes = {MediaConfig().max_run_bytes}    # {SETTINGS_HELP['media.max_run_bytes']}",
        f"# backfill_per_run = {MediaConfig().backfill_per_run}    # {SETTINGS_HELP['media.backfill_per_run']}",
        "",
        "[recheck]",
        f"# window_days = {RecheckConfig().window_days}    # {SETTINGS_HELP['recheck.window_days']}",
        f"# per_run = {RecheckConfig().per_run}    # {SETTINGS_HELP['recheck.per_run']}",
        f"# schedule_hours = [1, 2, 3, 6, 12, 24]    # {SETTINGS_HELP['recheck.schedule_hours']}",
        f"# confirm_hours = {RecheckConfig().confirm_hours}    # {SETTINGS_HELP['recheck.confirm_hours']}",
        "",
        "[search]",
        f'# backend = "tantivy"    # {SETTINGS_HELP["search.backend"]}',
        f"# writer_memory_mb = {SearchConfig().writer_memory_mb}    # {SETTINGS_HELP['search.writer_memory_mb']}",
        f"# index_on_update = true    # {SETTINGS_HELP['search.index_on_update']}",
        "",
        "[cluster]",
        f'# database = "postgresql://newsarchive@db.example/news"    # {SETTINGS_HELP["cluster.database"]}',
        "",
        "# Mirrors that `newsarchive publish --push` pushes to; as many as you like:",
        "# [[mirrors]]",
        '# name = "github"',
        '# url = "git@github.com:you/news.git"',
        '# read_url = "https://you.github.io/news/"    # where readers can browse it: listed in README.md, the site, the bundle',
    ]
    for source in sources:
        feeds = ", ".join(_toml_string(feed) for feed in source.feeds)
        lines += ["", "[[sources]]", f"name = {_toml_string(source.name)}", f"slug = {_toml_string(source.slug)}", f"feeds = [{feeds}]"]
        if not source.enabled:
            lines.append("enabled = false")
        if source.fulltext != "feed":
            lines.append(f"fulltext = {_toml_string(source.fulltext)}")
        if source.fulltext_selector is not None:
            lines.append(f"fulltext_selector = {_toml_string(source.fulltext_selector)}")
        if source.allow_private:
            lines.append("allow_private = true")
        table = source_fields(source)
        for key in ("every", "recheck_schedule", "max_items", "user_agent", "proxy", "headers"):
            if key in table:
                lines.append(f"{key} = {_toml_value(table[key])}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_string(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return str(value).lower() if isinstance(value, bool) else str(value)
