"""The simulator in a child process (`adspipe simulator serve`), for benchmarks: one event loop on
its own core, not sharing the measured pipeline's interpreter."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Sequence

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_in_child(options: Sequence[str], timeout_s: float = 60.0) -> tuple[subprocess.Popen[bytes], str]:
    """`adspipe simulator serve <options>` on a free port; (the process, its base URL) once it answers."""
    port = free_port()
    code = "from adspipe.simulator.cli import simulator; simulator()"
    args = [sys.executable, "-c", code, "serve", "--port", str(port), *options]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/admin/clock", timeout=1).raise_for_status()
            return proc, base
        except httpx.HTTPError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the simulator did not start")
