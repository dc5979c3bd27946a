"""Read regular files with a size cap: the only way nimdoctor reads a file it did not write.

A path may name a FIFO (an open for reading blocks until a writer comes), a device (`/dev/zero` never ends;
opening `/dev/watchdog` arms it) or a file of any size. So a file is first opened with `O_PATH`, which runs
no driver code and never blocks, its type is checked on that descriptor, and only a regular file is opened
for reading (through `/proc/self/fd`, which reopens the same inode), then read up to a cap. Where `O_PATH`
is missing (not Linux), the file is opened `O_NONBLOCK` and checked with `fstat` before any read.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

MiB = 1 << 20
_O_PATH: int | None = getattr(os, "O_PATH", None)
_O_NOCTTY: int = getattr(os, "O_NOCTTY", 0)
_O_CLOEXEC: int = getattr(os, "O_CLOEXEC", 0)
READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | _O_NOCTTY | _O_CLOEXEC
_CHUNK = 64 * 1024
_NULL_DEVICE = os.makedev(1, 3)
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISLNK, "a symbolic link"),
)


class NotRegularFileError(OSError):
    """The path names something other than a regular file; `null_device` when it is `/dev/null`
    (systemd's way of masking a unit or drop-in)."""

    def __init__(self, kind: str, label: str, *, null_device: bool = False) -> None:
        super().__init__(errno.EINVAL, f"not a regular file but {kind}", label)
        self.kind = kind
        self.null_device = null_device


class FileTooLargeError(OSError):
    """The file holds more than the cap allows; nothing of it is used."""

    def __init__(self, cap: int, label: str) -> None:
        super().__init__(errno.EFBIG, f"larger than {size_text(cap)} (the most nimdoctor reads of it)", label)
        self.cap = cap


def size_text(nbytes: int) -> str:
    """A cap as people write it: `4 MiB`, `512 KiB`, `100 bytes`."""
    for unit, size in (("MiB", MiB), ("KiB", 1024)):
        if nbytes >= size and nbytes % size == 0:
            return f"{nbytes // size} {unit}"
    return f"{nbytes} bytes"


def check_regular(fd: int, label: str) -> None:
    """Raise `NotRegularFileError` unless `fd` is a regular file."""
    mode = os.fstat(fd)
    if stat.S_ISREG(mode.st_mode):
        return
    kind = next((text for test, text in _KINDS if test(mode.st_mode)), "not a file")
    null = stat.S_ISCHR(mode.st_mode) and mode.st_rdev == _NULL_DEVICE
    raise NotRegularFileError(kind, label, null_device=null)


def open_for_reading(path_fd: int, label: str) -> int:
    """A descriptor open for reading on the regular file that the `O_PATH` descriptor `path_fd` names."""
    check_regular(path_fd, label)
    try:
        fd = os.open(f"/proc/self/fd/{path_fd}", READ_FLAGS)
    except FileNotFoundError:
        raise OSError(errno.ENOSYS, "cannot reopen a file without /proc/self/fd", label) from None
    except OSError as exc:  # e.g. EACCES: name the file, not the descriptor it was reopened through
        exc.filename = label
        raise
    try:
        check_regular(fd, label)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_fd(fd: int, cap: int, label: str) -> bytes:
    """At most `cap` bytes from `fd`; `FileTooLargeError` when there are more."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = os.read(fd, min(_CHUNK, cap + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > cap:
            raise FileTooLargeError(cap, label)


def read_file(path: Path | str, cap: int, label: str | None = None) -> bytes:
    """The bytes of a regular file (symbolic links followed), at most `cap`; `OSError` otherwise."""
    label = label or str(path)
    if _O_PATH is None:
        fd = os.open(path, READ_FLAGS)
        try:
            check_regular(fd, label)
            return read_fd(fd, cap, label)
        finally:
            os.close(fd)
    path_fd = os.open(path, _O_PATH | _O_CLOEXEC)
    try:
        fd = open_for_reading(path_fd, label)
    finally:
        os.close(path_fd)
    try:
        return read_fd(fd, cap, label)
    finally:
        os.close(fd)


def read_text_file(path: Path | str, cap: int, label: str | None = None) -> str:
    """A regular file's UTF-8 text, at most `cap` bytes; `OSError` or `UnicodeDecodeError` otherwise."""
    return read_file(path, cap, label).decode("utf-8")
