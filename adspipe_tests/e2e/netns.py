"""Hosts for the network-boundary test: Linux network namespaces on a bridge (each host its own
address, reached only over the network), or separate processes on loopback where namespaces are
not available. Everything created here is removed on exit, also after a failure.

The test process itself reaches a host by switching its calling thread into that host's namespace
(`Host.entered()`, setns(2)): a socket belongs to the namespace it was created in, so HTTP, gRPC and
Postgres clients opened inside the block talk to the host as a machine on that network would.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

CLONE_NEWNET = 0x40000000
SUBNET = "10.77.0"  # inside namespaces this test creates only
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Host:
    name: str
    addr: str
    netns: str | None  # None: a process group on loopback

    def command(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *argv] if self.netns else argv

    def port(self, fixed: int) -> int:
        # In its own namespace every port is free; on loopback the hosts share them.
        return fixed if self.netns else free_port()

    @contextmanager
    def entered(self) -> Iterator[None]:
        if self.netns is None:
            yield
            return
        with open("/proc/thread-self/ns/net") as home, open(f"/run/netns/{self.netns}") as target:
            _setns(target.fileno())
            try:
                yield
            finally:
                _setns(home.fileno())

    def pids(self) -> list[int]:
        if self.netns is None:
            return []
        out = subprocess.run(["ip", "netns", "pids", self.netns], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def kill_all(self) -> None:
        """The host dies: every process in it, at once."""
        for pid in self.pids():
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def namespaces_available() -> bool:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    probe = f"adsp{uuid.uuid4().hex[:6]}-probe"
    try:
        _ip("netns", "add", probe)
    except (subprocess.CalledProcessError, OSError):
        return False
    _ip("netns", "del", probe)
    return True


@contextmanager
def network(names: list[str], *, use_namespaces: bool) -> Iterator[dict[str, Host]]:
    """One host per name; with namespaces, all on one bridge in a namespace of its own."""
    if not use_namespaces:
        yield {name: Host(name, "127.0.0.1", None) for name in names}
        return
    tag = f"adsp{uuid.uuid4().hex[:6]}"
    bridge = f"{tag}-br"
    created: list[str] = []
    try:
        _ip("netns", "add", bridge)
        created.append(bridge)
        _ip("-n", bridge, "link", "set", "lo", "up")
        _ip("-n", bridge, "link", "add", "br0", "type", "bridge")
        _ip("-n", bridge, "link", "set", "br0", "up")
        hosts: dict[str, Host] = {}
        for i, name in enumerate(names):
            ns = f"{tag}-{name}"
            _ip("netns", "add", ns)
            created.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            # The veth pair is born in the bridge's namespace with its peer in the host's.
            _ip("-n", bridge, "link", "add", f"p{i}", "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("-n", bridge, "link", "set", f"p{i}", "master", "br0", "up")
            addr = f"{SUBNET}.{i + 2}"
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            hosts[name] = Host(name, addr, ns)
        yield hosts
    finally:
        for ns in reversed(created):
            Host(ns, "", ns).kill_all()
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


def environ_has(pid: int, value: str) -> bool:
    """Whether `value` is in the environment the process started with (/proc/<pid>/environ)."""
    return value.encode() in Path(f"/proc/{pid}/environ").read_bytes()


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        children = subprocess.run(["pgrep", "-P", str(current)], capture_output=True, text=True).stdout
        todo.extend(int(c) for c in children.split())
    return tree
