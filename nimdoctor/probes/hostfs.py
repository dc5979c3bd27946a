"""Read-only views of a host's files: a real directory tree, or an in-memory one for simulated machines.

Probes read the host only through a `HostFS`, so the agent (host mounted at `/host`), a person on the node
(`/`), a test fixture tree and a simulated machine all take the same code path.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Protocol


class HostFS(Protocol):
    """Read access to a host's files by absolute host path (e.g. `/proc/1/limits`)."""

    def read_text(self, path: str) -> str:
        """The file's text; `OSError` when it is absent or unreadable."""

    def listdir(self, path: str) -> list[str]:
        """Names in a directory; `OSError` when it is absent or not a directory."""

    def describe(self, path: str) -> str:
        """Where the path really is, for evidence (`/host/proc/1/limits`, `machine dgx-h100:/proc/...`)."""


class DirFS:
    """A host mounted at a directory (`/` on the node itself, `/host` in the agent pod)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def read_text(self, path: str) -> str:
        """Read a file below the root, tolerating bytes that are not UTF-8."""
        return self._path(path).read_text(encoding="utf-8", errors="replace")

    def listdir(self, path: str) -> list[str]:
        """List a directory below the root."""
        return [entry.name for entry in self._path(path).iterdir()]

    def describe(self, path: str) -> str:
        """The real path of a host path."""
        return str(self._path(path))


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
