"""The OS locks a process holds on study files, shared by every store of the process.

Every lock is a byte-range lock on the study file itself, so it belongs to the
file (its inode), whatever path reaches it: a symbolic link, a hard link, a
bind mount. Nothing is created beside the file. Three kinds:

* A driver's lock on a study (taken through
  :meth:`pnas.storage.sqlite.StudyStore.lock_study`): one byte per study id,
  from :data:`STUDY_LOCKS` on.
* A claim on a study's name (:class:`StudyClaim`), taken by a driver before
  its slow start, so that two drivers started at once on a new study do not
  both create it: one byte per name, from :data:`NAME_LOCKS` on.
* SQLite's shared lock on a quiet WAL store, held for the immutable readers
  of this process (:meth:`StudyFiles.pin`).

The first two lie far past SQLite's own lock bytes (at 1 GiB), beyond the end
of any study file, so neither SQLite nor any reader ever meets them. They are
open-file-description locks where the system has them (Linux): the kernel
drops them when the last descriptor of their open file goes, so when their
process dies (a killed run never blocks its resume), but not when SQLite, or
anything else in the process, closes another descriptor of the same file, as
it would drop a plain POSIX lock. Elsewhere they are POSIX locks.

The other way round, closing any descriptor of a file drops the POSIX locks
that SQLite connections of this process hold on it; so this process keeps one
set of descriptors per study file (:data:`STUDY_FILES`) and closes them only
when no store of the process has the file open and no lock of it is held.
The state is process-wide: a forked child starts with none of it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from pnas.storage.base import StoreError, StudyLocked

__all__ = ["NAME_LOCKS", "STUDY_FILES", "STUDY_LOCKS", "FileKey", "StudyClaim", "StudyFiles", "file_key"]

STUDY_LOCKS = 1 << 42
"""The byte of study ``i`` (its id in the store) is ``STUDY_LOCKS + i``."""
NAME_LOCKS = 1 << 41
"""Bytes from here on (below :data:`STUDY_LOCKS`) claim study names, so a claim never meets a study's lock."""

# SQLite's lock bytes in its unix VFS: a shared lock reads part of the shared range and EXCLUSIVE writes all
# of it; a writer waiting for EXCLUSIVE holds the pending byte, and no new shared lock is taken meanwhile.
_PENDING_BYTE = 0x40000000
_SHARED_FIRST, _SHARED_SIZE = _PENDING_BYTE + 2, 510

_OFD = hasattr(fcntl, "F_OFD_SETLK")
_FLOCK = "hhqqi4x"  # struct flock on Linux: type, whence, start, length, pid (0 for open-file-description locks)

FileKey = tuple[int, int]
"""A file as the kernel knows it: (device, inode)."""


def file_key(path: str | os.PathLike[str]) -> FileKey | None:
    """The regular file ``path`` leads to (links followed), or None where there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def _ofd(fd: int, command: int, kind: int, start: int, size: int = 1) -> bytes:
    result: bytes = fcntl.fcntl(fd, command, struct.pack(_FLOCK, kind, os.SEEK_SET, start, size, 0))
    return result


@dataclass
class _File:
    """This process's descriptors of one study file, and what it holds on it."""

    path: str
    fd: int
    """Read-only: for SQLite's shared lock and for questions about other processes' locks."""
    lock_fd: int | None = None
    """Read-write, opened when a lock is first taken (a write lock needs one); None until then."""
    users: int = 0
    holders: dict[int, object] = field(default_factory=dict)
    """Lock byte -> the store or claim that holds it."""
    pins: int = 0
    spare: list[int] = field(default_factory=list)
    """Other descriptors of the file, kept until the rest go (closing one would drop SQLite's locks)."""

    def descriptors(self) -> list[int]:
        return [self.fd, *([] if self.lock_fd is None else [self.lock_fd]), *self.spare]


class StudyFiles:
    """The study files this process has open, their descriptors and the locks it holds on them.

    Every store of a file, and every claim on it, is a user (:meth:`attach`,
    :meth:`detach`); the descriptors close with the last user. Within the
    process a lock is one holder's (a store or a claim): another holder of the
    same process is refused as another process would be.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._files: dict[FileKey, _File] = {}

    def attach(self, path: str | os.PathLike[str]) -> FileKey | None:
        """One more user of the file ``path`` leads to; None where there is no file that can be opened."""
        with self._mutex:
            key = file_key(path)
            if key is None:
                return None
            entry = self._files.get(key)
            if entry is None:
                try:  # never waits (a FIFO put in the file's place)
                    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
                except OSError:
                    return None
                st = os.fstat(fd)
                opened = (st.st_dev, st.st_ino)
                if opened != key:  # replaced in between: use the file opened
                    key = opened
                    if key in self._files:
                        self._files[key].spare.append(fd)
                if key not in self._files:
                    self._files[key] = _File(os.fspath(path), fd)
                entry = self._files[key]
            entry.users += 1
            return key

    def detach(self, key: FileKey) -> None:
        """One user fewer; the last one closes the descriptors (no store of this process has the file open then)."""
        with self._mutex:
            entry = self._files.get(key)
            if entry is None:  # attached by the parent of this forked process
                return
            entry.users -= 1
            if entry.users > 0:
                return
            del self._files[key]
            for fd in entry.descriptors():
                os.close(fd)

    def users(self, key: FileKey) -> int:
        with self._mutex:
            entry = self._files.get(key)
            return 0 if entry is None else entry.users

    def _lock_fd(self, key: FileKey, entry: _File) -> int | None:
        """The read-write descriptor of the file, opened now if need be; None where it cannot be written."""
        if entry.lock_fd is None:
            try:
                fd = os.open(entry.path, os.O_RDWR | os.O_CLOEXEC | os.O_NONBLOCK)
            except OSError:  # read-only media, a file we may not write: nobody writes through this process
                return None
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != key:  # the name leads elsewhere now: closing it drops nothing of ours
                os.close(fd)
                return None
            entry.lock_fd = fd
        return entry.lock_fd

    def take(self, key: FileKey, byte: int, holder: object, name: str, where: Path) -> bool:
        """Take lock ``byte`` for ``holder``; False where the file cannot be locked (it cannot be written either).

        Raises :class:`StudyLocked` when another holder, of this process or another, has it.
        """
        with self._mutex:
            entry = self._files.get(key)
            if entry is None:  # a store this forked process inherited: its parent's file, not to be locked here
                return False
            current = entry.holders.get(byte)
            if current is holder:
                return True
            if current is not None:
                raise StudyLocked(
                    f"study {name!r} in {where} is being driven by another store of this process; "
                    "close it or wait for its run to finish"
                )
            fd = self._lock_fd(key, entry)
            if fd is None:
                return False
            try:
                if _OFD:
                    _ofd(fd, fcntl.F_OFD_SETLK, fcntl.F_WRLCK, byte)
                else:
                    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, byte, os.SEEK_SET)
            except OSError as exc:
                if exc.errno not in (errno.EACCES, errno.EAGAIN):
                    raise StoreError(f"cannot lock study storage {where}: {exc.strerror or exc}") from None
                raise StudyLocked(
                    f"study {name!r} in {where} is being driven by another running process; "
                    "wait for it to finish or stop it (a killed process releases its lock by itself)"
                ) from None
            entry.holders[byte] = holder
            return True

    def is_held(self, key: FileKey, byte: int) -> bool:
        """Whether some holder of this process, or another live process, has lock ``byte``."""
        with self._mutex:
            entry = self._files.get(key)
            if entry is None:  # a store this forked process inherited: nothing to ask with
                return False
            if byte in entry.holders:
                return True
            try:
                if _OFD:  # a shared lock conflicts with another's exclusive one; asking takes nothing
                    kind: int = struct.unpack(_FLOCK, _ofd(entry.fd, fcntl.F_OFD_GETLK, fcntl.F_RDLCK, byte))[0]
                    return kind != fcntl.F_UNLCK
                fcntl.lockf(entry.fd, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, byte, os.SEEK_SET)
            except OSError as exc:
                return exc.errno in (errno.EACCES, errno.EAGAIN)
            fcntl.lockf(entry.fd, fcntl.LOCK_UN, 1, byte, os.SEEK_SET)
            return False

    def release(self, key: FileKey, holder: object) -> None:
        """Release every lock ``holder`` holds on the file."""
        with self._mutex:
            entry = self._files.get(key)
            if entry is None or entry.lock_fd is None:
                return
            for byte in [b for b, h in entry.holders.items() if h is holder]:
                if _OFD:
                    _ofd(entry.lock_fd, fcntl.F_OFD_SETLK, fcntl.F_UNLCK, byte)
                else:
                    fcntl.lockf(entry.lock_fd, fcntl.LOCK_UN, 1, byte, os.SEEK_SET)
                del entry.holders[byte]

    # --- SQLite's shared lock, for immutable readers -------------------------------------------
    @staticmethod
    def _try_shared(fd: int) -> bool:
        """Take the shared lock as SQLite does: only while no writer holds (or waits on) the pending byte."""
        try:
            _ofd(fd, fcntl.F_OFD_SETLK, fcntl.F_RDLCK, _PENDING_BYTE)
        except OSError:
            return False
        try:
            _ofd(fd, fcntl.F_OFD_SETLK, fcntl.F_RDLCK, _SHARED_FIRST, _SHARED_SIZE)
            return True
        except OSError:
            return False
        finally:
            _ofd(fd, fcntl.F_OFD_SETLK, fcntl.F_UNLCK, _PENDING_BYTE)

    def pin(self, key: FileKey | None, timeout: float = 30.0) -> bool:
        """Hold SQLite's shared lock on the file for one more immutable reader of this process.

        With it, a writer of any process can still open the store and commit
        to its ``-wal``, but cannot take the exclusive lock a last connection
        needs to checkpoint and delete that ``-wal``, nor write the file in
        rollback mode; so the file changes only while a ``-wal`` is there to
        say so. It is an open-file-description lock: unlike a POSIX lock it is
        neither taken over by nor releases the locks SQLite itself takes in
        this process. False where there is no such lock, no descriptor of the
        file, or a writer kept its lock exclusive past ``timeout``; immutable
        readers then go without (a writer starting during a read is noticed
        only by its ``-wal``).
        """
        if not _OFD or key is None:
            return False
        with self._mutex:
            entry = self._files.get(key)
            if entry is None:
                return False
            if entry.pins:
                entry.pins += 1
                return True
            deadline = time.monotonic() + timeout
            while not self._try_shared(entry.fd):  # an exclusive lock lasts a checkpoint or a commit: wait it out
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.001)
            entry.pins = 1
            return True

    def unpin(self, key: FileKey) -> None:
        with self._mutex:
            entry = self._files.get(key)
            if entry is None or not entry.pins:  # pinned by the parent of this forked process: not ours to release
                return
            entry.pins -= 1
            if not entry.pins:
                _ofd(entry.fd, fcntl.F_OFD_SETLK, fcntl.F_UNLCK, _SHARED_FIRST, _SHARED_SIZE)

    def forget(self) -> None:
        """In a forked child: the files, stores and locks are its parent's.

        Its copies of the descriptors are closed (a child holds no POSIX lock
        that closing could drop, and the parent's open-file-description locks
        stay with the parent's descriptors), so that a child outliving its
        parent does not keep the parent's locks alive.
        """
        self._mutex = threading.Lock()
        files, self._files = self._files, {}
        for entry in files.values():
            for fd in entry.descriptors():
                try:
                    os.close(fd)
                except OSError:
                    pass


STUDY_FILES = StudyFiles()
os.register_at_fork(after_in_child=STUDY_FILES.forget)


class StudyClaim:
    """The claim a driver takes on a study's name before its slow start (building, loading data).

    Two drivers started at once on a study that does not exist yet would both
    create it; the claim makes the second one fail at once instead, whatever
    path it reached the file by. A lock byte of the study file itself, so the
    kernel drops it with its process. A file that does not exist yet is made
    (empty: SQLite makes a store of an empty file) to have something to lock,
    and removed again when the claim ends with nothing written in it, so a
    refused command leaves nothing behind. A file that cannot be locked (on
    read-only media, or in memory) gives an empty claim: nobody can write
    through it anyway.
    """

    def __init__(self, path: str | os.PathLike[str] | None, name: str) -> None:
        self._key: FileKey | None = None
        self._made: str | None = None  # the file this claim made, removed if still empty at its end
        if path is None or str(path) == ":memory:":
            return
        byte = NAME_LOCKS + (zlib.crc32(name.encode()) & 0x7FFFFFFF)
        for _ in range(3):  # another driver may remove the empty file it made while this one opens it
            key = self._attach(path)
            if key is None:
                return
            try:
                taken = STUDY_FILES.take(key, byte, self, name, Path(path))
            except BaseException:
                STUDY_FILES.detach(key)
                raise
            if not taken:
                STUDY_FILES.detach(key)
                return
            if file_key(path) == key:
                self._key = key
                return
            STUDY_FILES.release(key, self)
            STUDY_FILES.detach(key)
            self._made = None

    def _attach(self, path: str | os.PathLike[str]) -> FileKey | None:
        key = STUDY_FILES.attach(path)
        if key is not None:
            return key
        real = os.path.realpath(path)
        try:
            fd = os.open(real, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except FileExistsError:  # made by another driver just now: claim it as it is
            return STUDY_FILES.attach(path)
        except OSError:  # no folder, or one we may not write: nothing to claim on, the store will say why
            return None
        os.close(fd)  # a new file: no lock of this process is on it yet
        self._made = real
        return STUDY_FILES.attach(path)

    def release(self) -> None:
        key, self._key = self._key, None
        if key is None:
            return
        made, self._made = self._made, None
        if made is not None and STUDY_FILES.users(key) == 1 and file_key(made) == key:
            try:
                if os.path.getsize(made) == 0:  # nothing written: removed while still claimed
                    os.unlink(made)
            except OSError:
                pass
        STUDY_FILES.release(key, self)
        STUDY_FILES.detach(key)

    def __enter__(self) -> StudyClaim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
