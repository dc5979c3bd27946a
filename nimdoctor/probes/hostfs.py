"""Read-only views of a host's files: a real directory tree, or an in-memory one for simulated machines.

Probes read the host only through a `HostFS`, so the agent (host mounted at `/host`), a person on the node
(`/`), a test fixture tree and a simulated machine all take the same code path.

A host tree is untrusted: anything on the node may have put a symbolic link, a FIFO or a huge file where a
probe looks. `DirFS` therefore
- resolves every path inside its root as a chroot would: an absolute symbolic link or `..` never leaves the
  root (`openat2` with `RESOLVE_IN_ROOT` where the kernel has it, else a walk one component at a time with
  `O_NOFOLLOW` that expands symbolic links itself, at most 40 like the kernel);
- reads only regular files (a FIFO, socket or device is an error naming the path, and is never opened for
  reading: see `nimdoctor.files`);
- reads at most `MAX_FILE_BYTES` (4 MiB) of a file and at most `MAX_DIR_ENTRIES` names of a directory, and
  says so with an error rather than using part of it. `/proc/<pid>/limits` is about 1.5 KiB and a unit file
  a few KiB; `/proc` of a large node lists some tens of thousands of processes.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from collections import deque
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Protocol

from nimdoctor import files

MAX_FILE_BYTES = 4 * files.MiB
MAX_DIR_ENTRIES = 1 << 20
MAX_SYMLINKS = 40  # the kernel's own limit before ELOOP

_O_PATH: int = getattr(os, "O_PATH", os.O_RDONLY)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_STEP_FLAGS = _O_PATH | os.O_DIRECTORY | os.O_CLOEXEC  # a directory passed through, never listed
# openat2(2): the syscall number is the same on every architecture (added after the numbers were unified).
_SYS_OPENAT2 = 437
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10


class HostFS(Protocol):
    """Read access to a host's files by absolute host path (e.g. `/proc/1/limits`)."""

    def read_bytes(self, path: str) -> bytes:
        """The file's bytes; `OSError` when it is absent, unreadable, not a regular file or too large."""

    def read_text(self, path: str) -> str:
        """The file's text (bytes that are not UTF-8 replaced); `OSError` like `read_bytes`."""

    def listdir(self, path: str) -> list[str]:
        """Names in a directory; `OSError` when it is absent, not a directory or too large."""

    def describe(self, path: str) -> str:
        """Where the path really is, for evidence (`/host/proc/1/limits`, `machine dgx-h100:/proc/...`)."""


class _OpenHow(ctypes.Structure):
    _fields_ = (("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64))


class _Openat2:
    """`openat2(2)` through libc's `syscall`, or `None` from `__call__` when the kernel lacks it."""

    def __init__(self) -> None:
        self.available = os.uname().sysname == "Linux"
        self._syscall = None
        if self.available:
            try:
                self._syscall = ctypes.CDLL(None, use_errno=True).syscall
            except (OSError, AttributeError):
                self.available = False

    def __call__(self, dir_fd: int, path: str, flags: int) -> int | None:
        if not self.available or self._syscall is None:
            return None
        how = _OpenHow(flags=flags, mode=0, resolve=_RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
        for _ in range(8):  # EAGAIN: a rename raced with `..` resolution; the kernel asks to retry
            fd = self._syscall(
                ctypes.c_long(_SYS_OPENAT2),
                ctypes.c_int(dir_fd),
                ctypes.c_char_p(os.fsencode(path)),
                ctypes.byref(how),
                ctypes.c_size_t(ctypes.sizeof(how)),
            )
            if fd >= 0:
                return int(fd)
            code = ctypes.get_errno()
            if code == errno.ENOSYS:
                self.available = False
                return None
            if code == errno.EPERM:  # a seccomp filter that refuses unknown syscalls this way
                return None
            if code != errno.EAGAIN:
                raise OSError(code, os.strerror(code), path)
        return None


_openat2 = _Openat2()


class DirFS:
    """A host mounted at a directory (`/` on the node itself, `/host` in the agent pod)."""

    def __init__(self, root: Path, *, max_bytes: int = MAX_FILE_BYTES, use_openat2: bool = True) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.use_openat2 = use_openat2

    def read_bytes(self, path: str) -> bytes:
        """Read a regular file below the root, at most `max_bytes` of it."""
        label = self.describe(path)
        path_fd = self._resolve(path, _O_PATH | os.O_CLOEXEC)
        try:
            fd = files.open_for_reading(path_fd, label)
        finally:
            os.close(path_fd)
        try:
            return files.read_fd(fd, self.max_bytes, label)
        finally:
            os.close(fd)

    def read_text(self, path: str) -> str:
        """Read a regular file below the root, tolerating bytes that are not UTF-8."""
        return self.read_bytes(path).decode("utf-8", errors="replace")

    def listdir(self, path: str) -> list[str]:
        """List a directory below the root."""
        label = self.describe(path)
        fd = self._resolve(path, _DIR_FLAGS)
        try:
            names: list[str] = []
            with os.scandir(fd) as entries:
                for entry in entries:
                    if len(names) == MAX_DIR_ENTRIES:
                        raise OSError(errno.EFBIG, f"more than {MAX_DIR_ENTRIES} entries", label)
                    names.append(entry.name)
            return names
        finally:
            os.close(fd)

    def describe(self, path: str) -> str:
        """The real path of a host path."""
        return str(self.root / path.lstrip("/"))

    def _resolve(self, path: str, flags: int) -> int:
        """A descriptor for `path` resolved inside the root, opened with `flags`."""
        root_fd = os.open(self.root, _DIR_FLAGS)
        try:
            relative = path.lstrip("/") or "."
            fd = _openat2(root_fd, relative, flags) if self.use_openat2 else None
            if fd is None:
                fd = _walk(root_fd, relative, flags, self.describe(path))
            return fd
        except OSError as exc:
            exc.filename = self.describe(path)  # the walk names only the component that failed
            raise
        finally:
            os.close(root_fd)


def _walk(root_fd: int, path: str, flags: int, label: str) -> int:
    """Resolve `path` below `root_fd` one component at a time, as a chroot would, and open it."""
    parts = deque(p for p in path.split("/") if p not in ("", "."))
    stack = [os.dup(root_fd)]  # the directories from the root down to the current one
    links = 0
    try:
        while parts:
            name = parts.popleft()
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            last = not parts
            want = flags if last else _STEP_FLAGS
            target = _open_component(stack[-1], name, want)
            if isinstance(target, int):
                if last:
                    return target
                stack.append(target)
                continue
            links += 1
            if links > MAX_SYMLINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), label)
            if target.startswith("/"):
                while len(stack) > 1:
                    os.close(stack.pop())
            parts.extendleft(reversed([p for p in target.split("/") if p not in ("", ".")]))
        return os.open(".", flags, dir_fd=stack[-1])  # the path ends at a directory (`/`, `a/..`)
    finally:
        for fd in stack:
            os.close(fd)


def _open_component(dir_fd: int, name: str, flags: int) -> int | str:
    """The opened component, or the target text when it is a symbolic link (never followed here)."""
    try:
        fd = os.open(name, flags | os.O_NOFOLLOW, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            raise
        try:
            return os.readlink(name, dir_fd=dir_fd)
        except OSError:
            raise exc from None
    if flags & _O_PATH and stat.S_ISLNK(os.fstat(fd).st_mode):  # O_PATH|O_NOFOLLOW opens the link itself
        os.close(fd)
        return os.readlink(name, dir_fd=dir_fd)
    return fd


class MemFS:
    """An in-memory host, built from a machine description's `host` section."""

    def __init__(self, files: Mapping[str, str], label: str) -> None:
        self.files = {str(PurePosixPath("/") / name.lstrip("/")): text for name, text in files.items()}
        self.label = label

    def read_text(self, path: str) -> str:
        """The described file's text."""
        key = str(PurePosixPath("/") / path.lstrip("/"))
        if key not in self.files:
            raise FileNotFoundError(errno.ENOENT, "not in the simulated host", path)
        return self.files[key]

    def read_bytes(self, path: str) -> bytes:
        """The described file's text as UTF-8."""
        return self.read_text(path).encode()

    def listdir(self, path: str) -> list[str]:
        """Direct children of a directory of the described host."""
        prefix = str(PurePosixPath("/") / path.lstrip("/")).rstrip("/") + "/"
        names = {key[len(prefix) :].split("/", 1)[0] for key in self.files if key.startswith(prefix)}
        if not names:
            raise FileNotFoundError(errno.ENOENT, "not in the simulated host", path)
        return sorted(names)

    def describe(self, path: str) -> str:
        """Path prefixed with the simulated machine's name."""
        return f"{self.label}:{path}"
