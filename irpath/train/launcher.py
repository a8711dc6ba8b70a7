"""``--local-workers N``: run one training as N ``MultiWorkerMirroredStrategy`` workers on this machine.

Each worker is ``python -m irpath <the same command>`` with its own ``TF_CONFIG``
(a cluster of N workers on 127.0.0.1 at free ports; worker 0 is the chief). It is
for testing multi-worker training and for users without a cluster manager; on
several hosts, set ``TF_CONFIG`` on each host instead (see the README).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time

from irpath.errors import ConfigError, TrainingPreempted

PREEMPTED = TrainingPreempted.exit_code


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for ``bind(port 0)`` and outgoing connections (Linux; else IANA's)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(v) for v in f.read().split())
        return lo, hi
    except (OSError, ValueError):
        return 49152, 65535


def free_ports(n: int, *, rng: random.Random | None = None) -> list[int]:
    """``n`` distinct TCP ports free on 127.0.0.1 right now, outside the ephemeral range.

    Ports are drawn at random below the kernel's ephemeral range and kept only when
    they bind. A port the kernel hands out for ``bind(0)`` or for an outgoing
    connection (another test's workers, gRPC's own clients) cannot then take the
    port between this check and the worker binding it, which was a real race when
    two launches ran side by side.
    """
    rng = rng or random.Random()
    lo, _ = ephemeral_range()
    low, high = (10000, lo - 1) if lo > 11000 else (lo, 65535)
    ports: list[int] = []
    if n < 1:
        return ports
    for _ in range(2000):
        port = rng.randint(low, high)
        if port not in ports and _bindable(port):
            ports.append(port)
            if len(ports) == n:
                return ports
    raise ConfigError(f"--local-workers: found only {len(ports)} of {n} free ports on 127.0.0.1")


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def worker_configs(n: int, ports: list[int] | None = None) -> list[dict]:
    """The ``TF_CONFIG`` of each of ``n`` local workers."""
    ports = ports or free_ports(n)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    return [{"cluster": cluster, "task": {"type": "worker", "index": i}} for i in range(n)]


def strip_flag(argv: list[str], flag: str) -> list[str]:
    """``argv`` without ``flag VALUE`` / ``flag=VALUE``."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == flag:
            skip = True
        elif not a.startswith(flag + "="):
            out.append(a)
    return out


def launch(n: int, argv: list[str], *, poll: float = 0.2) -> int:
    """Run ``python -m irpath *argv`` as ``n`` workers; wait for all of them.

    SIGTERM / SIGINT to the launcher are passed on to every worker (so a preemption
    checkpoints the whole cluster). When one worker fails, the others are stopped.

    Returns:
        0 when every worker exited 0; 75 when they stopped on a preemption (each
        exited 0 or 75); else the first failing worker's exit code.
    """
    if n < 1:
        raise ConfigError(f"--local-workers must be >= 1, got {n}")
    procs = []
    for i, cfg in enumerate(worker_configs(n)):
        env = {**os.environ, "TF_CONFIG": json.dumps(cfg), "IRPATH_WORKER": str(i)}
        procs.append(subprocess.Popen([sys.executable, "-m", "irpath", *argv], env=env))
    print(f"irpath: started {n} local workers (pids {', '.join(str(p.pid) for p in procs)})",
          file=sys.stderr, flush=True)

    def forward(signum, _frame):
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        failed = None
        while any(p.poll() is None for p in procs):
            bad = [p for p in procs if p.poll() not in (None, 0, PREEMPTED)]
            if bad and failed is None:
                failed = bad[0]
                print(f"irpath: worker {procs.index(failed)} exited {failed.returncode}; "
                      "stopping the others", file=sys.stderr, flush=True)
                forward(signal.SIGTERM, None)
                deadline = time.time() + 30
                while any(p.poll() is None for p in procs) and time.time() < deadline:
                    time.sleep(poll)
                for p in procs:
                    if p.poll() is None:
                        p.kill()
            time.sleep(poll)
        codes = [p.wait() for p in procs]
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    if failed is not None:
        return failed.returncode
    if all(c == 0 for c in codes):
        return 0
    if all(c in (0, PREEMPTED) for c in codes):
        return PREEMPTED
    return next(c for c in codes if c != 0)
