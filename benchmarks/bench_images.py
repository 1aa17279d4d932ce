"""Image footprint and start-up benchmark.

    .venv/bin/python benchmarks/bench_images.py            # 3 start-ups per entrypoint
    .venv/bin/python benchmarks/bench_images.py --cold     # + rebuild every image from scratch

First, with no container engine, each part installed with its Dockerfile's own build
steps (as the delivery tests do): the size of the runtime venv the image ships in
/opt/registro, the time from exec to ready for the API (first 200 on /healthz) and the
worker (Celery "ready." with a real Redis) — the worker's start-up is part of how fast a
scale-up adds capacity — and their memory (RSS, whole process tree) once ready.

Then the real images (scripts/build-images.sh, podman): each image's size and what it
adds above the python base image (issue 23's budgets: the stand-in base must not
distort them), its build time (with --cold a fresh full build: no cache key, no podman
layer cache; without it the last build recorded in the manifest, which may have reused
podman's layers) and its warm build time (a second run, every image a cache hit).

Then one worker pod on a node that has none of its images: the bytes the node pulls
(the distinct layers of the worker and browser sidecar images, gzip-compressed as a
registry serves them; the share above the python base too), and the time to unpack
them (`podman load` of both archives into an empty image store) and from start to
Ready (both containers started together: the worker's "ready." and the sidecar's
/status ready). No registry is reachable here, so the network transfer itself is not
measured: at B bytes/s it adds (pull bytes / B) seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from devstack import processes
from devstack.processes import free_port
from tests.delivery.test_images import install_like_build_stage, runtime_command


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


PROJECT = ("api", "worker", "operator", "demo")


def real_images(cold: bool) -> dict:
    first = build_images(*(["--no-cache"] if cold else []))
    warm = build_images()
    base = warm["images"]["python"]["size_bytes"]
    print(f"real images (podman; build = {'cold, this run' if cold else 'the last build (--cold for a cold one)'}"
          f"; warm = every image a cache hit, whole run {warm['total_seconds']:.1f} s):")
    print(f"  {'image':55} {'size MiB':>9} {'above base':>10} {'build s':>8} {'warm s':>7}")
    for name, entry in warm["images"].items():
        cold_s = first["images"][name]["cold_build_seconds"]
        above = (f"{(entry['size_bytes'] - base) / 2**20:10.0f}" if name in PROJECT
                 else f"{'':10}")
        print(f"  {entry['ref']:55} {entry['size_bytes'] / 2**20:9.0f} {above} {cold_s:8.1f} "
              f"{entry['build_seconds']:7.1f}{'' if entry['cached'] else '  (rebuilt!)'}")
    return warm


# --- one worker pod on a node without its images ------------------------------------


def archive_layers(archive: Path) -> list[str]:
    """Layer members of a docker-archive (its manifest.json), base first."""
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    return list(manifest[0]["Layers"])


def gzip_sizes(archive: Path, cache: dict[str, int]) -> dict[str, int]:
    """Each layer's gzip size (level 6, as `docker push` compresses), keyed by the layer's
    member name (its digest); cached across runs by that name."""
    sizes: dict[str, int] = {}
    with tarfile.open(archive) as tar:
        for name in archive_layers(archive):
            if name not in cache:
                src = tar.extractfile(name)
                assert src is not None
                comp = zlib.compressobj(6, zlib.DEFLATED, 31)
                total = 0
                while chunk := src.read(1 << 20):
                    total += len(comp.compress(chunk))
                cache[name] = total + len(comp.flush())
            sizes[name] = cache[name]
    return sizes


def pull_bytes(manifest: dict) -> None:
    images = manifest["images"]
    cache_file = Path(images["worker"]["archive"]).parent / "layer-gzip-sizes.json"
    cache: dict[str, int] = {}
    if cache_file.exists():
        cache = json.loads(cache_file.read_text())
    pod: dict[str, int] = {}
    for name in ("worker", "selenium"):
        pod.update(gzip_sizes(Path(images[name]["archive"]), cache))
    base = set(gzip_sizes(Path(images["python"]["archive"]), cache))
    cache_file.write_text(json.dumps(cache))
    worker = gzip_sizes(Path(images["worker"]["archive"]), cache)
    print(f"one worker pod on a node without its images pulls (gzip layers, distinct): "
          f"{sum(pod.values()) / 2**20:.0f} MiB; the worker image alone "
          f"{sum(worker.values()) / 2**20:.0f} MiB, "
          f"{sum(v for k, v in worker.items() if k not in base) / 2**20:.1f} MiB of it above "
          f"the python base (stand-ins: Debian-built base and browser)")


def pod_start(manifest: dict, redis_url: str, runs: int) -> None:
    """Unpack the worker and sidecar images into an empty store, then start both
    containers as the chart runs them and time them to Ready."""
    images = manifest["images"]
    env = {**os.environ, "CONTAINERS_CONF": manifest["containers_conf"]}
    loads, readies = [], []
    for _ in range(runs):
        store = Path(tempfile.mkdtemp(prefix="registro-bench-store-"))
        podman = ["podman", "--root", str(store / "root"), "--runroot", str(store / "run")]
        try:
            started = time.perf_counter()
            for name in ("worker", "selenium"):
                subprocess.run([*podman, "load", "-q", "-i", images[name]["archive"]], env=env,
                               check=True, capture_output=True)
            loads.append(time.perf_counter() - started)
            readies.append(start_pod(podman, env, images, redis_url))
        finally:
            subprocess.run([*podman, "system", "reset", "--force"], env=env,
                           capture_output=True, check=False)
            shutil.rmtree(store, ignore_errors=True)
    print(f"worker pod, images absent from the node: unpack (podman load of both archives) "
          f"median {statistics.median(loads):.1f} s, then start to Ready median "
          f"{statistics.median(readies):.1f} s (min {min(readies):.1f}, max "
          f"{max(readies):.1f}, n={runs}); + the transfer of the pull bytes above")


def start_pod(podman: list[str], env: dict[str, str], images: dict, redis_url: str) -> float:
    se_port, metrics = free_port(), free_port()
    read_only = ["--read-only", "--tmpfs", "/tmp:rw,exec,mode=1777"]
    names = [f"registro-bench-{os.getpid()}-{n}" for n in ("worker", "browser")]
    worker = [*podman, "run", "-d", "--name", names[0], "--network=host", *read_only,
              "-e", f"REDIS_URL={redis_url}", "-e", "REGISTRO_DATABASE_URL=sqlite:////tmp/r.db",
              "-e", f"REGISTRO_WORKER_METRICS_PORT={metrics}",
              "-e", f"SELENIUM_URL=http://127.0.0.1:{se_port}",
              images["worker"]["ref"], "--queues=scraping", "--concurrency=1",
              "--loglevel=INFO", "--without-gossip", "--without-mingle"]
    browser = [*podman, "run", "-d", "--name", names[1], "--network=host", *read_only,
               "--mount", "type=tmpfs,destination=/home/seluser,U=true", "--shm-size=256m",
               "--user=11200:11201", "-e", f"SE_PORT={se_port}", images["selenium"]["ref"]]
    started = time.perf_counter()
    try:
        for argv in (worker, browser):
            subprocess.run(argv, env=env, check=True, capture_output=True)
        worker_ready = browser_ready = False
        while not (worker_ready and browser_ready):
            if time.perf_counter() - started > 180:
                raise RuntimeError("the pod was not Ready in 180 s")
            if not worker_ready:
                logs = subprocess.run([*podman, "logs", names[0]], env=env, text=True,
                                      capture_output=True, check=False)
                worker_ready = "ready." in logs.stdout + logs.stderr
            if not browser_ready:
                try:
                    status = httpx.get(f"http://127.0.0.1:{se_port}/status", timeout=1)
                    browser_ready = status.json()["value"]["ready"] is True
                except (httpx.TransportError, ValueError, KeyError):
                    pass
            time.sleep(0.1)
        return time.perf_counter() - started
    finally:
        for name in names:
            subprocess.run([*podman, "rm", "-f", "-t", "5", name], env=env,
                           capture_output=True, check=False)


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
        venvs = {}
        for part in PROJECT:
            venv, install_s = install_like_build_stage(REPO / f"Dockerfile.{part}",
                                                       work / part)
            venvs[part] = venv
            print(f"{part}: build steps of Dockerfile.{part} (warm uv cache) {install_s:.1f} s; "
                  f"runtime venv /opt/registro {du_mib(venv):.0f} MiB")
        for name, part, fn in (("API (uvicorn) to first /healthz 200", "api", start_api),
                               ("worker (celery) to 'ready.'", "worker", start_worker)):
            results = [fn(venvs[part], work, redis.url) for _ in range(args.runs)]
            times = [r[0] for r in results]
            rss = [r[1] for r in results]
            print(f"{name}: median {statistics.median(times):.2f} s "
                  f"(min {min(times):.2f}, max {max(times):.2f}, n={len(times)}); "
                  f"RSS when ready {statistics.median(rss):.0f} MiB")
        if args.no_real_images:
            return
        if shutil.which("podman") is None and os.geteuid() != 0:
            print("real images: skipped (no podman; scripts/build-images.sh installs it as root)")
            return
        manifest = real_images(args.cold)
        pull_bytes(manifest)
        pod_start(manifest, redis.url, args.runs)
    finally:
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
