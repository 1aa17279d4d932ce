"""A CPU cgroup for a set of processes, as Kubernetes gives each pod one.

    group = CpuGroup.create("registro-bench-workers", shares=102)
    group.add(pid)          # that process; its children started later follow it
    ...
    group.remove()          # moves what is left back to the root, then deletes it

``nice`` weighs each thread on its own: three Chromiums at nice 10 run tens of threads,
and together they still outweigh one API process at nice 0. A cgroup is weighed as one
entity against the API, whatever it runs, as a pod's CPU request is. ``shares`` is
cgroup v1's ``cpu.shares`` (1024 per CPU, as the kubelet writes it from a request in
millicores); on cgroup v2 it is converted to ``cpu.weight`` the way the kubelet does.
Needs root.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

_ROOT = Path("/sys/fs/cgroup")


def _controller() -> tuple[Path, str]:
    """Where the cpu controller is mounted, and its weight file."""
    unified = _ROOT / "cgroup.controllers"
    if unified.exists() and "cpu" in unified.read_text().split():
        return _ROOT, "cpu.weight"
    if (_ROOT / "cpu" / "cpu.shares").exists():
        return _ROOT / "cpu", "cpu.shares"
    raise RuntimeError("no cgroup cpu controller found under /sys/fs/cgroup")


def weight_of(shares: int) -> int:
    """cgroup v2's cpu.weight for cgroup v1's cpu.shares (the kubelet's conversion)."""
    shares = max(2, min(shares, 262144))
    return 1 + ((shares - 2) * 9999) // 262142


@dataclass
class CpuGroup:
    path: Path
    root: Path

    @classmethod
    def create(cls, name: str, shares: int) -> CpuGroup:
        root, weight_file = _controller()
        path = root / name
        path.mkdir(exist_ok=True)
        value = shares if weight_file == "cpu.shares" else weight_of(shares)
        (path / weight_file).write_text(str(value))
        return cls(path, root)

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def pids(self) -> list[int]:
        return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]

    def remove(self) -> None:
        for pid in self.pids():
            try:
                (self.root / "cgroup.procs").write_text(str(pid))
            except ProcessLookupError:
                pass
        self.path.rmdir()
