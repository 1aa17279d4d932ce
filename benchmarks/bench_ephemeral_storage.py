"""Ephemeral storage a worker pod writes: the figures behind the chart's
ephemeral-storage requests and limits (charts/registro/values.yaml).

    .venv/bin/python benchmarks/bench_ephemeral_storage.py [--scrapes 30] [--failures 5]

Runs the demo legacy system and a chromedriver whose TMPDIR and HOME are fresh
directories (the browser sidecar's /tmp and /home/seluser emptyDirs), scrapes
``--scrapes`` OS numbers with one reused session (as a worker does), then
``--failures`` unknown OS numbers, each of which writes its evidence bundle (screenshot,
page, metadata) to the artifacts directory, as ``registro scrape`` does (workers keep
theirs in the database now: registro/evidence.py). A sampler thread
records the peak disk use (allocated blocks, as the kubelet counts them) of each
directory and of new files in /dev/shm; it prints the peaks and the artifact size per
failure.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from devstack import processes
from registro.evidence_store import DirectoryEvidence
from registro.settings import Settings
from registro.worker.scraper import Scraper

MiB = 1024 * 1024


def disk_usage(path: Path, only_new_since: float | None = None) -> int:
    """Bytes allocated under path (st_blocks x 512, what `du` and the kubelet count)."""
    total = 0
    for root, _dirs, files in os.walk(path, onerror=lambda _e: None):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if only_new_since is None or st.st_mtime >= only_new_since:
                total += st.st_blocks * 512
    return total


class PeakSampler(threading.Thread):
    def __init__(self, paths: dict[str, Path], started: float, interval: float = 0.2):
        super().__init__(daemon=True)
        self.paths, self.started, self.interval = paths, started, interval
        self.peaks = dict.fromkeys([*paths, "dev-shm"], 0)
        self._halt = threading.Event()

    def sample(self) -> None:
        for name, path in self.paths.items():
            self.peaks[name] = max(self.peaks[name], disk_usage(path))
        self.peaks["dev-shm"] = max(self.peaks["dev-shm"],
                                    disk_usage(Path("/dev/shm"), only_new_since=self.started))

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def stop(self) -> dict[str, int]:
        self._halt.set()
        self.join()
        self.sample()
        return self.peaks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrapes", type=int, default=30)
    parser.add_argument("--failures", type=int, default=5)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-ephemeral-"))
    dirs = {name: work / name for name in ("browser-tmp", "browser-home", "artifacts")}
    for d in dirs.values():
        d.mkdir()
    procs: list[subprocess.Popen] = []
    try:
        demo_port = processes.free_port()
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "registro.legacy_demo", "--port", str(demo_port)],
            env={**os.environ, "REGISTRO_DEMO_ADMIN_TOKEN": secrets.token_urlsafe(24)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        processes.wait_for_port(demo_port, proc=procs[-1])
        driver_port = processes.free_port()
        procs.append(subprocess.Popen(
            ["/usr/bin/chromedriver", f"--port={driver_port}", "--allowed-ips=127.0.0.1"],
            env={**os.environ, "TMPDIR": str(dirs["browser-tmp"]),
                 "HOME": str(dirs["browser-home"])},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        processes.wait_for_port(driver_port, proc=procs[-1])

        settings = Settings(legacy_url=f"http://127.0.0.1:{demo_port}",
                            legacy_username="demo", legacy_password="demo",
                            selenium_url=f"http://127.0.0.1:{driver_port}",
                            artifacts_dir=dirs["artifacts"], session_max_scrapes=10_000)
        sampler = PeakSampler(dirs, started=os.stat(work).st_mtime)
        sampler.start()
        failed = 0
        with Scraper(settings, evidence=DirectoryEvidence(dirs["artifacts"])) as scraper:
            for n in range(1001, 1001 + args.scrapes):
                if n % 97:
                    scraper.scrape(str(n))
            for i in range(args.failures):
                try:
                    scraper.scrape(str(900_000_000 + i))
                except Exception:  # noqa: BLE001 - unknown OS: a failure with artifacts
                    failed += 1
            in_session = sampler.stop()
        artifacts = sorted(dirs["artifacts"].iterdir())
        per_failure = disk_usage(dirs["artifacts"]) / max(failed, 1)
        print(f"scrapes: {args.scrapes}, failures with artifacts: {failed} "
              f"({len(artifacts)} files)")
        for name, peak in in_session.items():
            print(f"peak {name:13} {peak / MiB:7.1f} MiB")
        print(f"artifacts per failure  {per_failure / 1024:7.1f} KiB")
        return 0
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
