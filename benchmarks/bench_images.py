"""Image footprint and start-up benchmark (no Docker engine: measured on a copy of the
project installed with the Dockerfiles' own `uv` steps, as the delivery tests do).

    .venv/bin/python benchmarks/bench_images.py            # 3 start-ups per entrypoint
    .venv/bin/python benchmarks/bench_images.py --cold     # + rebuild every image from scratch

Reports the size of the runtime venv each image ships in /opt/registro (the image
adds the python:3.11-slim base on top), the time from exec to ready for the API
(first 200 on /healthz) and the worker (Celery "ready." with a real Redis) — the
worker's start-up is part of how fast a scale-up adds capacity — and their memory
(RSS, whole process tree) once ready.

Then the real images (scripts/build-images.sh, podman): each image's size, its build
time (with --cold a fresh full build: no cache key, no podman layer cache; without it
the last build recorded in the manifest, which may have reused podman's layers) and its
warm build time (a second run, every image a cache hit: key + `podman image inspect`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from devstack import processes
from devstack.processes import free_port
from tests.delivery.test_images import copy_build_context, parse, runtime_command


def install(work: Path) -> tuple[Path, float]:
    build = parse(REPO / "Dockerfile.api")[0]
    src = copy_build_context(build, work / "src")
    env = {**os.environ, **build.env, "UV_PROJECT_ENVIRONMENT": str(work / "venv")}
    env.setdefault("UV_PYTHON", "python3.11")
    env.pop("VIRTUAL_ENV", None)
    started = time.perf_counter()
    for run in build.runs:
        if run.startswith("uv "):
            subprocess.run(run.split(), cwd=src, env=env, check=True, capture_output=True)
    return work / "venv", time.perf_counter() - started


def tree_rss_mib(pid: int) -> float:
    proc = psutil.Process(pid)
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def du_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()
               ) / 2**20


def start_api(venv: Path, work: Path, redis_url: str) -> tuple[float, float]:
    port = free_port()
    argv, env = runtime_command("Dockerfile.api", venv, {"0.0.0.0": "127.0.0.1",
                                                         "8000": str(port)})
    env.update(REGISTRO_DATABASE_URL=f"sqlite:///{work}/bench.db", REDIS_URL=redis_url,
               REGISTRO_API_KEYS="bench-key-0123456789abcdef", HOME=str(work),
               TMPDIR=str(work))
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=work, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.02)
        ready = time.perf_counter() - started
        return ready, tree_rss_mib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)


def start_worker(venv: Path, work: Path, redis_url: str) -> tuple[float, float]:
    argv, env = runtime_command("Dockerfile.worker", venv)
    env.update(REDIS_URL=redis_url, REGISTRO_DATABASE_URL=f"sqlite:///{work}/bench.db",
               HOME=str(work), TMPDIR=str(work), REGISTRO_WORKER_METRICS_PORT=str(free_port()))
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = work / f"worker-{time.monotonic_ns()}.log"
    started = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, env=env, cwd=work, stdout=out, stderr=subprocess.STDOUT)
        try:
            while "ready." not in log.read_text():
                if proc.poll() is not None:
                    raise RuntimeError(log.read_text())
                time.sleep(0.02)
            ready = time.perf_counter() - started
            return ready, tree_rss_mib(proc.pid)
        finally:
            proc.terminate()
            proc.wait(60)


def build_images(*args: str) -> dict:
    started = time.perf_counter()
    proc = subprocess.run([str(REPO / "scripts" / "build-images.sh"), *args], cwd=REPO,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"build-images.sh failed:\n{proc.stderr[-3000:]}")
    manifest = json.loads(Path(proc.stdout.strip().splitlines()[-1]).read_text())
    manifest["total_seconds"] = time.perf_counter() - started
    return manifest


def real_images(cold: bool) -> None:
    if shutil.which("podman") is None and os.geteuid() != 0:
        print("real images: skipped (no podman; scripts/build-images.sh installs it as root)")
        return
    first = build_images(*(["--no-cache"] if cold else []))
    warm = build_images()
    print(f"real images (podman; build = {'cold, this run' if cold else 'the last build (--cold for a cold one)'}"
          f"; warm = every image a cache hit, whole run {warm['total_seconds']:.1f} s):")
    print(f"  {'image':55} {'size MiB':>9} {'build s':>8} {'warm s':>7}")
    for name, entry in warm["images"].items():
        cold_s = first["images"][name]["cold_build_seconds"]
        print(f"  {entry['ref']:55} {entry['size_bytes'] / 2**20:9.0f} {cold_s:8.1f} "
              f"{entry['build_seconds']:7.1f}{'' if entry['cached'] else '  (rebuilt!)'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cold", action="store_true",
                    help="rebuild every real image from scratch first (~15 min on 2 cores)")
    ap.add_argument("--no-real-images", action="store_true", help="skip the podman images")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="registro-bench-images-"))
    redis = processes.start_redis()
    try:
        venv, install_s = install(work)
        print(f"install (uv sync steps of the Dockerfiles, warm uv cache): {install_s:.1f} s")
        print(f"runtime venv /opt/registro: {du_mib(venv):.0f} MiB "
              f"(image = python:3.11-slim-bookworm base + this)")
        for name, fn in (("API (uvicorn) to first /healthz 200", start_api),
                         ("worker (celery) to 'ready.'", start_worker)):
            results = [fn(venv, work, redis.url) for _ in range(args.runs)]
            times = [r[0] for r in results]
            rss = [r[1] for r in results]
            print(f"{name}: median {statistics.median(times):.2f} s "
                  f"(min {min(times):.2f}, max {max(times):.2f}, n={len(times)}); "
                  f"RSS when ready {statistics.median(rss):.0f} MiB")
    finally:
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)
    if not args.no_real_images:
        real_images(args.cold)


if __name__ == "__main__":
    main()
