"""`registro profile check` versus `registro scrape`: time per OS on the demo system.

    .venv/bin/python benchmarks/bench_profile_check.py [--runs 3] [--batch 5]

Starts the demo legacy system (a child process), then, interleaved so both see the same
machine load:

- commands, wall time per process: `registro scrape N --no-save` and
  `registro profile check demo.yaml --os N` (one OS each: a process, a browser, a login);
  and one `profile check --os ... ` of ``--batch`` OS (wall time / OS);
- in process, one logged-in Scraper: ``scrape(n)`` as a worker calls it versus what
  `check` does per OS (``scrape(n, trace=Trace())`` and the per-field report).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from devstack import processes
from devstack.stack import demo_env
from registro.settings import Settings
from registro.worker.profile import default_profile_path
from registro.worker.profile_check import field_reports
from registro.worker.scraper import Scraper
from registro.worker.trace import Trace

REGISTRO = Path(sys.executable).with_name("registro")
OS_NUMBERS = [str(n) for n in range(1, 400) if n % 97]  # multiples of 97 do not exist


def _env(url: str, workdir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRO_")}
    env.update(REGISTRO_LEGACY_URL=url, REGISTRO_ARTIFACTS_DIR=f"{workdir}/artifacts",
               REGISTRO_DATABASE_URL=f"sqlite:///{workdir}/bench.db")
    return env


def _timed(args: list[str], env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run([str(REGISTRO), *args], env=env, cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=5)
    ap.add_argument("--in-process", type=int, default=10)
    args = ap.parse_args()
    demo = processes.start_demo(env=demo_env(secrets.token_hex(8)))
    url = demo.url
    numbers = iter(OS_NUMBERS)
    try:
        with tempfile.TemporaryDirectory() as workdir:
            env, profile = _env(url, workdir), str(default_profile_path())
            scrape, check = [], []
            for _ in range(args.runs):
                scrape.append(_timed(["scrape", next(numbers), "--no-save"], env, workdir))
                check.append(_timed(["profile", "check", profile, "--os", next(numbers)],
                                    env, workdir))
            batch = [next(numbers) for _ in range(args.batch)]
            cmd = ["profile", "check", profile, "--json", *(a for n in batch
                                                             for a in ("--os", n))]
            start = time.perf_counter()
            out = subprocess.run([str(REGISTRO), *cmd], env=env, cwd=workdir, check=True,
                                 capture_output=True, text=True, timeout=600).stdout
            batch_wall = time.perf_counter() - start
            reads = [o["seconds"] for o in json.loads(out)["os"]]
            settings = Settings(legacy_url=url, site_profile=None, selenium_url=None,
                                artifacts_dir=Path(workdir) / "artifacts")
            plain, traced = [], []
            with Scraper(settings) as scraper:
                scraper.scrape(next(numbers))  # browser start and login
                for _ in range(args.in_process):
                    start = time.perf_counter()
                    scraper.scrape(next(numbers))
                    plain.append(time.perf_counter() - start)
                    start = time.perf_counter()
                    trace = Trace()
                    scraper.scrape(next(numbers), trace=trace)
                    field_reports(scraper.profile, scraper.records, trace, False)
                    traced.append(time.perf_counter() - start)
    finally:
        demo.stop()
    med = statistics.median
    print(f"commands, one OS per process, median of {args.runs} (wall, s):")
    print(f"  registro scrape N --no-save    {med(scrape):6.2f}  {sorted(scrape)}")
    print(f"  registro profile check --os N  {med(check):6.2f}  {sorted(check)}")
    print(f"  ratio check / scrape           {med(check) / med(scrape):6.2f}")
    print(f"one `profile check` of {args.batch} OS: {batch_wall:.2f} s wall, "
          f"{batch_wall / args.batch:.2f} s per OS; reads: first (browser + login) "
          f"{reads[0]:.2f} s, then median {med(reads[1:]):.3f} s")
    print(f"in process, reused session, median of {args.in_process} (s per OS):")
    print(f"  scrape(n)                      {med(plain):.3f}")
    print(f"  scrape(n, trace) + field table {med(traced):.3f}  "
          f"(ratio {med(traced) / med(plain):.2f})")


if __name__ == "__main__":
    main()
