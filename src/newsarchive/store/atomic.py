"""Crash-safe writes and the archive lock.

Files are written beside their target, made durable, then renamed over it, so a reader
or a crash sees the old file or the new one, never half of either. ``AtomicBatch`` does
this for many files at once with one syncfs() (or fsyncs in parallel) instead of one fsync
per file in a row, which is what makes writing thousands of articles fast.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

from ..errors import ArchiveLockedError, StorageError

TMP_SUFFIX = ".newsarchive-tmp"


def _fsync_path(path: Path | str, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _syncfs(path: Path | str) -> bool:
    """Flush the whole file system holding ``path`` in one call (Linux); False where unavailable."""
    syncfs = getattr(_libc(), "syncfs", None)
    if syncfs is None:
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        return bool(syncfs(fd) == 0)
    finally:
        os.close(fd)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


@contextlib.contextmanager
def storage_errors(path: Path | str) -> Iterator[None]:
    """OSErrors inside as a StorageError naming ``path`` (os.write names no file) and saying what to do."""
    try:
        yield
    except OSError as exc:
        raise StorageError.from_os_error(exc, exc.filename or path) from exc


class AtomicBatch:
    """Collect writes, then make them all durable and visible together in ``commit()``.

    Durability costs one syncfs() for the whole batch on Linux (one fsync per file elsewhere), then
    each file is renamed over its target and the folders are synced. A batch that is never committed
    leaves only temporary files: the journal tells the next run which ones to remove. ``on_commit`` is told the
    paths made visible, after each commit (the store publishes them to readers on other machines).
    """

    def __init__(self, on_commit: Callable[[list[str]], None] | None = None) -> None:
        self._pending: list[tuple[str, str]] = []
        self._folders: set[str] = set()
        self._on_commit = on_commit

    def _folder_of(self, path: str) -> None:
        folder = os.path.dirname(path)
        if folder not in self._folders:
            os.makedirs(folder, exist_ok=True)
            self._folders.add(folder)

    def write(self, path: Path | str, data: bytes) -> None:
        path = os.fspath(path)
        temporary = path + TMP_SUFFIX
        with storage_errors(temporary):
            self._folder_of(path)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
        self._pending.append((temporary, path))

    def adopt(self, temporary: str, path: Path | str) -> None:
        """Commit a file another worker already wrote (on the same file system) to ``path``."""
        path = os.fspath(path)
        with storage_errors(path):
            self._folder_of(path)
        self._pending.append((temporary, path))

    def commit(self) -> None:
        if not self._pending:
            return
        with storage_errors(self._pending[0][1]):
            if not _syncfs(self._pending[0][0]):
                with ThreadPoolExecutor(max_workers=8) as pool:
                    list(pool.map(_fsync_path, (temporary for temporary, _ in self._pending)))
            for temporary, path in self._pending:
                os.replace(temporary, path)
            for folder in {os.path.dirname(path) for _, path in self._pending}:
                _fsync_path(folder, directory=True)
        committed = [path for _, path in self._pending]
        self._pending.clear()
        if self._on_commit is not None:
            self._on_commit(committed)


def write_if_changed(path: Path, data: bytes, batch: AtomicBatch) -> bool:
    """Queue ``data`` for ``path`` unless the file already holds exactly these bytes."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    batch.write(path, data)
    return True


@contextlib.contextmanager
def turn(path: Path) -> Iterator[None]:
    """An exclusive lock (flock on ``path``) that waits for its turn, for a brief read, change and write of one file
    (newsarchive.toml), so that two at once never lose one's change. The kernel frees it when its holder dies."""
    with storage_errors(path):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        with storage_errors(path):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # which frees the lock


class ArchiveLock:
    """An exclusive lock on the archive (flock on a file), so two runs never interleave.

    The kernel frees it when the holding process dies, so a killed run never leaves it stuck.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> ArchiveLock:
        with storage_errors(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise ArchiveLockedError(f"the archive is locked by another run: {self.path} is held by process {holder}") from None
            raise StorageError.from_os_error(exc, self.path) from exc
        self._fd = fd
        try:  # who holds it, for the message of a run refused; the lock itself is the flock
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            self.release()
            raise StorageError.from_os_error(exc, self.path) from exc
        return self

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ArchiveLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
