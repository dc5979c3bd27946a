"""`DirFS` reads a host tree as a chroot would, only regular files, and at most its cap: both through
`openat2(RESOLVE_IN_ROOT)` and through the component walk used where the kernel lacks it."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nimdoctor.files import FileTooLargeError, NotRegularFileError
from nimdoctor.probes.hostfs import MAX_SYMLINKS, DirFS, _openat2
from tests.hosts import HostTree, host_tree, needs_root

SECRET = "outside the host root"


@pytest.fixture(params=["openat2", "walk"])
def use_openat2(request: pytest.FixtureRequest) -> bool:
    if request.param == "openat2" and not _openat2.available:
        pytest.skip("this kernel has no openat2 (Linux < 5.6): the walk is what runs here")
    return bool(request.param == "openat2")


@pytest.fixture
def tree(tmp_path: Path) -> HostTree:
    """A host tree at tmp_path/host, with a secret beside it that no path inside may reach."""
    (tmp_path / "secret").write_text(SECRET)
    tree = host_tree(tmp_path / "host")
    tree.file("/etc/secret", "the host's own file")
    return tree


def fs(tree: HostTree, use_openat2: bool) -> DirFS:
    return DirFS(tree.root, use_openat2=use_openat2)


@pytest.mark.parametrize(
    "target",
    ["/etc/secret", "../secret", "../../../../etc/secret", "/../../etc/secret", "/proc/../../etc/secret"],
)
def test_symlinks_resolve_inside_the_root(tree: HostTree, use_openat2: bool, target: str) -> None:
    tree.symlink("/proc/1/limits", target)
    host = fs(tree, use_openat2)
    try:
        text = host.read_text("/proc/1/limits")
    except FileNotFoundError:
        text = ""  # `../secret` from /proc/1 is /secret on the host: absent
    assert SECRET not in text
    assert text in ("", "the host's own file")


def test_absolute_link_to_outside_names_the_host_path(tree: HostTree, use_openat2: bool) -> None:
    tree.symlink("/etc/link", tree.root.parent / "secret")  # absolute: /tmp/.../secret inside the host
    with pytest.raises(FileNotFoundError) as info:
        fs(tree, use_openat2).read_text("/etc/link")
    assert info.value.filename == str(tree.root / "etc/link")


def test_dotdot_in_the_asked_path_stays_at_the_root(tree: HostTree, use_openat2: bool) -> None:
    assert fs(tree, use_openat2).read_text("/../../../etc/secret") == "the host's own file"


def test_directory_links_are_followed_inside_the_root(tree: HostTree, use_openat2: bool) -> None:
    tree.file("/usr/lib/systemd/system/containerd.service", "[Service]\n")
    tree.symlink("/lib", "usr/lib")
    host = fs(tree, use_openat2)
    assert host.listdir("/lib/systemd/system") == ["containerd.service"]
    tree.symlink("/etc/systemd", "/usr/lib/systemd")
    assert host.read_text("/etc/systemd/system/containerd.service") == "[Service]\n"


def test_a_symlink_loop_is_an_error(tree: HostTree, use_openat2: bool) -> None:
    tree.symlink("/etc/a", "/etc/b").symlink("/etc/b", "a")
    with pytest.raises(OSError, match="symbolic links") as info:
        fs(tree, use_openat2).read_text("/etc/a")
    assert info.value.errno == errno.ELOOP


def test_a_chain_of_links_within_the_kernels_limit_resolves(tree: HostTree, use_openat2: bool) -> None:
    for n in range(MAX_SYMLINKS - 1):
        tree.symlink(f"/etc/l{n}", f"l{n + 1}")
    tree.symlink(f"/etc/l{MAX_SYMLINKS - 1}", "secret")
    assert fs(tree, use_openat2).read_text("/etc/l0") == "the host's own file"


def test_a_fifo_is_refused_without_blocking(tree: HostTree, use_openat2: bool) -> None:
    tree.fifo("/proc/1/limits")
    with pytest.raises(NotRegularFileError, match="FIFO") as info:
        fs(tree, use_openat2).read_text("/proc/1/limits")
    assert info.value.filename == str(tree.root / "proc/1/limits")


def test_a_socket_is_refused(tree: HostTree, use_openat2: bool) -> None:
    import socket

    path = tree.path("/run/containerd.sock")
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        with pytest.raises(NotRegularFileError, match="socket"):
            fs(tree, use_openat2).read_text("/run/containerd.sock")
    finally:
        server.close()


def test_a_directory_where_a_file_should_be_is_refused(tree: HostTree, use_openat2: bool) -> None:
    tree.path("/proc/1/limits").mkdir()
    with pytest.raises(NotRegularFileError, match="directory"):
        fs(tree, use_openat2).read_text("/proc/1/limits")


@needs_root
def test_device_nodes_are_refused_and_dev_null_is_recognised(tree: HostTree, use_openat2: bool) -> None:
    tree.device("/dev/null", 1, 3).device("/dev/zero", 1, 5)
    tree.symlink("/etc/null.conf", "/dev/null").symlink("/etc/zero.conf", "/dev/zero")
    host = fs(tree, use_openat2)
    with pytest.raises(NotRegularFileError) as null:
        host.read_text("/etc/null.conf")
    assert null.value.null_device
    with pytest.raises(NotRegularFileError, match="character device") as zero:
        host.read_text("/etc/zero.conf")
    assert not zero.value.null_device


def test_reading_stops_at_the_cap(tree: HostTree, use_openat2: bool) -> None:
    tree.sparse("/proc/1/limits", 1 << 40)  # a terabyte of zeros, on no disk
    host = DirFS(tree.root, max_bytes=4096, use_openat2=use_openat2)
    with pytest.raises(FileTooLargeError, match="4 KiB"):
        host.read_bytes("/proc/1/limits")
    tree.file("/proc/2/limits", "x" * 4096)
    assert len(host.read_bytes("/proc/2/limits")) == 4096


def test_both_resolutions_agree_on_every_path(tree: HostTree) -> None:
    tree.file("/proc/1/comm", "systemd\n").symlink("/proc/self", "1").symlink("/x", "proc/self/../1/comm")
    tree.symlink("/y", "/x").symlink("/z", "../../z-missing")
    walk = DirFS(tree.root, use_openat2=False)
    kernel = DirFS(tree.root, use_openat2=True)
    for path in ("/x", "/y", "/z", "/proc/self/comm", "/proc/1/../../proc/1/comm", "/etc/../etc/secret"):
        assert _outcome(walk, path) == _outcome(kernel, path), path


def _outcome(host: DirFS, path: str) -> str:
    try:
        return host.read_text(path)
    except OSError as exc:
        return f"errno {exc.errno}"


_components = st.sampled_from(["..", ".", "etc", "secret", "proc", "1", "l", "m", ""])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    link=st.lists(_components, max_size=6).map("/".join),
    absolute=st.booleans(),
    asked=st.lists(_components, max_size=6).map("/".join),
)
def test_no_path_or_link_reaches_outside(tree: HostTree, link: str, absolute: bool, asked: str) -> None:
    target = ("/" if absolute else "") + (link or ".")
    lpath = tree.root / "l"
    if lpath.is_symlink():
        lpath.unlink()
    os.symlink(target, lpath)
    for host in (DirFS(tree.root, use_openat2=False), DirFS(tree.root, use_openat2=True)):
        outcome = _outcome(host, "/" + asked)
        assert SECRET not in outcome
