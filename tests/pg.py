"""A throwaway PostgreSQL cluster from the machine's own binaries (Debian's postgresql), for the tests.

``initdb`` in a temporary folder, ``pg_ctl start`` listening on a Unix socket in that folder and on a free loopback
port: trust on the socket, passwords (scram) over TCP, so that a wrong password can be tested. PostgreSQL refuses to
run as root, so as root (CI) the server runs as an unprivileged user: in a user namespace that maps root to
``nobody`` (no file changes owner, and /dev/null stays usable where only root may write it), else as ``nobody``
through ``runuser`` with the folder given to it. Where none of that works, ``Cluster.start`` raises ``Unavailable``
with the reason, and the tests that need PostgreSQL skip with it.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PASSWORD = "s3cret-for-tests"  # of the role ``postgres``, asked over TCP only


class Unavailable(Exception):
    """PostgreSQL cannot be started here: the message says why."""


def find_bindir() -> Path | None:
    """The folder of initdb, pg_ctl and postgres: pg_config's, then Debian's /usr/lib/postgresql/<newest>/bin, then PATH."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True).stdout.strip()
            candidates.append(Path(found))
        except (OSError, subprocess.SubprocessError):
            pass
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0)
    candidates += [Path(p) for p in reversed(debian)]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(os.path.realpath(initdb)).parent)
    return next((c for c in candidates if (c / "initdb").is_file() and (c / "pg_ctl").is_file() and (c / "postgres").is_file()), None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _runners() -> list[tuple[str, list[str], bool]]:
    """Ways to run the server's programs: (name, command prefix, whether the folder must be given to nobody)."""
    if os.geteuid() != 0:
        return [("as this user", [], False)]
    runners: list[tuple[str, list[str], bool]] = []
    if shutil.which("unshare"):
        runners.append(("in a user namespace as nobody", ["unshare", "--user", "--map-user=65534", "--map-group=65534"], False))
    if shutil.which("runuser"):
        runners.append(("as nobody (runuser)", ["runuser", "-u", "nobody", "--"], True))
    return runners


class Cluster:
    """One PostgreSQL server in a temporary folder; ``url(dbname)`` addresses it, ``create_database`` makes databases."""

    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.folder: Path | None = None
        self.port = 0
        self._prefix: list[str] = []

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        assert self.bindir is not None
        command = [*self._prefix, str(self.bindir / args[0]), *args[1:]]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd="/", check=False)

    def start(self) -> None:
        if self.bindir is None:
            raise Unavailable("PostgreSQL's initdb, pg_ctl and postgres were not found (.ci/run installs them: apt-get install postgresql)")
        reasons = []
        for name, prefix, give in _runners():
            folder = Path(tempfile.mkdtemp(prefix="newsarchive-pg-"))
            if give:
                shutil.chown(folder, "nobody", "nogroup" if _group_exists("nogroup") else "nobody")
            self._prefix, self.folder = prefix, folder
            (folder / "pw").write_text(PASSWORD + "\n", encoding="utf-8")
            if give:
                shutil.chown(folder / "pw", "nobody")
            made = self._run(
                "initdb", "-D", str(folder / "data"), "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
                f"--pwfile={folder / 'pw'}", "-E", "UTF8", "--locale=C", "--no-sync",
            )  # fmt: skip
            if made.returncode != 0:
                reasons.append(f"{name}: initdb: {_last_line(made)}")
                shutil.rmtree(folder, ignore_errors=True)
                continue
            self.port = _free_port()
            options = (
                f"-k {folder} -c listen_addresses=127.0.0.1 -p {self.port} -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            started = self._run("pg_ctl", "-D", str(folder / "data"), "-l", str(folder / "log"), "-w", "-t", "60", "-o", options, "start")
            if started.returncode == 0:
                return
            log = (folder / "log").read_text(encoding="utf-8", errors="replace") if (folder / "log").exists() else ""
            reasons.append(f"{name}: pg_ctl start: {_last_line(started)} {log.strip().splitlines()[-1:] or ''}")
            shutil.rmtree(folder, ignore_errors=True)
        self.folder = None
        raise Unavailable("PostgreSQL could not be started here: " + ("; ".join(reasons) or "no way to run it as a user other than root"))

    def stop(self) -> None:
        if self.folder is None:
            return
        stopped = self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "fast", "-w", "-t", "20", "stop", timeout=30)
        if stopped.returncode != 0:  # the server's own pid, as a last resort
            pid_file = self.folder / "data" / "postmaster.pid"
            if pid_file.exists():
                try:
                    os.kill(int(pid_file.read_text().split()[0]), 9)
                    time.sleep(0.2)
                except (OSError, ValueError):
                    pass
        # The files of every database made: removing them takes seconds on a busy disk, which no test waits for.
        subprocess.run(["sh", "-c", 'rm -rf "$1" >/dev/null 2>&1 &', "sh", str(self.folder)], check=False, timeout=30)
        self.folder = None

    def url(self, dbname: str = "postgres", *, tcp: bool = False, password: str | None = None) -> str:
        """The address of a database: over the Unix socket (trust), or over loopback TCP with a password."""
        assert self.folder is not None
        if tcp:
            secret = f":{PASSWORD if password is None else password}"
            return f"postgresql://postgres{secret}@127.0.0.1:{self.port}/{dbname}"
        return f"postgresql://postgres@/{dbname}?host={self.folder}&port={self.port}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _group_exists(name: str) -> bool:
    import grp

    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"
