"""Is a latency tail our process's or the machine's? A probe that tells them apart.

    probe = StallProbe.start()          # a process of its own, highest priority it can get
    ...                                 # the load
    gaps = probe.stop()                 # [(start, end), ...] in time.monotonic() seconds

The probe sleeps 1 ms in a loop and records every wake-up that came later than
``threshold_s``. It runs SCHED_FIFO (as root), so no process of this machine can keep it
off a CPU: a gap it sees is the whole machine (here, a VM) not running, or the kernel. A
stall that our process shows and the probe does not is ours.

``run_delay(pid)`` is the other half: the time the process's threads spent runnable but
waiting for a CPU (``/proc/PID/task/*/schedstat``), i.e. stalls caused by other
processes of this machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_LOOP = """
import json, os, sys, threading, time
threshold = float(sys.argv[1])
try:
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(50))
    policy = "SCHED_FIFO"
except (PermissionError, AttributeError):
    try:
        os.setpriority(os.PRIO_PROCESS, 0, -20)
        policy = "nice -20"
    except PermissionError:
        policy = "nice 0"
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
gaps, last = [], time.monotonic()
while not done.is_set():
    time.sleep(0.001)
    now = time.monotonic()
    if now - last > threshold:
        gaps.append((last, now))
    last = now
print(json.dumps({"policy": policy, "gaps": gaps}))
"""


@dataclass
class StallProbe:
    proc: subprocess.Popen
    policy: str = ""

    @classmethod
    def start(cls, threshold_s: float = 0.02) -> StallProbe:
        proc = subprocess.Popen([sys.executable, "-c", _LOOP, str(threshold_s)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        return cls(proc)

    def stop(self) -> list[tuple[float, float]]:
        out = json.loads(self.proc.communicate("", timeout=30)[0])
        self.policy = out["policy"]
        return [tuple(g) for g in out["gaps"]]


def run_delay(pid: int) -> float:
    """Seconds the process's threads (and its children's, not) spent waiting on a run
    queue, summed; 0.0 when the kernel does not keep schedstats."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def overlapping(spans: list[tuple[float, float]], gaps: list[tuple[float, float]],
                min_gap_s: float) -> int:
    """How many of ``spans`` (start, end) overlap a gap of at least ``min_gap_s``."""
    big = [g for g in gaps if g[1] - g[0] >= min_gap_s]
    return sum(1 for s, e in spans if any(gs < e and ge > s for gs, ge in big))

