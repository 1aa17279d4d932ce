"""Build Registro's images with podman over local stand-ins; see scripts/build-images.sh.

Standard library only: it runs before the project's venv exists (``make test``).

Each image is skipped when its cache key is unchanged. The key hashes what the image is
built from: its Containerfile/Dockerfile, every file it copies (the project's COPY
sources with .dockerignore's exclusions, a stand-in's directory, the host CAs or
catatonit it is given), the id of the image it is built FROM, and the candidate
versions (this machine's apt lists) of the Debian packages it installs. The key is
stored as the image label ``dev.registro.cache-key`` and next to its archive.

The project images get the OCI labels' version (the chart's appVersion) and revision
(the commit HEAD, ``-dirty`` when the image's inputs have uncommitted changes) as build
arguments. The revision is not part of the key: a cached image keeps the revision it
was built at, whose inputs are still the current ones.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import inspect as pyinspect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STANDINS = REPO / "images" / "standins"
CACHE = Path(os.environ.get("REGISTRO_TOOLS_CACHE", str(Path.home() / ".cache" / "registro-tools")))
IMAGES = CACHE / "images"
LABEL = "dev.registro.cache-key"
# Bump when the recipe below changes in a way the hashed inputs do not show.
RECIPE = "images-1"
SUITE = "bookworm"

CONTAINERS_CONF = """\
# Written by scripts/build-images.sh. crun refuses this host's hybrid cgroups; the
# machine lacks CAP_SYS_RESOURCE and its hard nofile limit is 20000, so containers
# must not ask for more.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
"""


def chart_app_version() -> str:
    text = (REPO / "charts" / "registro" / "Chart.yaml").read_text()
    match = re.search(r'^appVersion:\s*"?([^"\s]+)"?', text, re.MULTILINE)
    if not match:
        raise SystemExit("build-images: no appVersion in charts/registro/Chart.yaml")
    return match.group(1)


def values_image(section: str) -> str:
    """``repository:tag`` of ``<section>.image`` in the chart's values.yaml (no PyYAML here)."""
    text = (REPO / "charts" / "registro" / "values.yaml").read_text()
    block = re.search(rf"^{section}:\n((?:[ #].*\n|\n)*)", text, re.MULTILINE)
    if not block:
        raise SystemExit(f"build-images: no {section} section in values.yaml")
    image = re.search(r"^  image:\n((?:    .*\n)+)", block.group(1), re.MULTILINE)
    fields = dict(re.findall(r"^    (repository|tag):\s*\"?([^\"\s]*)\"?", image.group(1) if image
                             else "", re.MULTILINE))
    return f"{fields['repository']}:{fields.get('tag') or chart_app_version()}"


def qualified(ref: str) -> str:
    """The fully qualified name containerd gives a short reference (docker.io/library/...)."""
    first = ref.split("/", 1)[0]
    if "/" in ref and ("." in first or ":" in first or first == "localhost"):
        return ref
    return f"docker.io/{ref}" if "/" in ref else f"docker.io/library/{ref}"


@dataclass
class Spec:
    name: str
    ref: str
    kind: str  # "mmdebstrap" | "standin" | "project"
    base: str | None = None  # short name of the image it is built FROM
    dockerfile: Path | None = None
    extra: dict[str, Path] = field(default_factory=dict)  # context path -> host file/dir


def specs() -> list[Spec]:
    app = chart_app_version()
    python = Spec("python", "docker.io/library/python:3.11.11-slim-bookworm", "standin", "debian",
                  STANDINS / "python" / "Containerfile",
                  {"certs": Path("/usr/local/share/ca-certificates")})
    out = [Spec("debian", "docker.io/library/debian:bookworm-slim", "mmdebstrap"), python]
    for component in ("api", "worker", "operator", "demo"):
        out.append(Spec(component, qualified(f"registro-{component}:{app}"), "project", "python",
                        REPO / f"Dockerfile.{component}"))
    out += [
        Spec("selenium", qualified(values_image("browser")), "standin", "debian",
             STANDINS / "selenium-standalone-chromium" / "Containerfile"),
        Spec("redis", qualified(values_image("redis")), "standin", "debian",
             STANDINS / "redis" / "Containerfile"),
        Spec("postgres", qualified(values_image("postgresql")), "standin", "debian",
             STANDINS / "postgres" / "Containerfile"),
        Spec("flower", qualified(values_image("flower")), "standin", "python",
             STANDINS / "flower" / "Containerfile"),
        Spec("pause", "registry.k8s.io/pause:3.10", "standin", None,
             STANDINS / "pause" / "Containerfile", {"catatonit": Path("/usr/bin/catatonit")}),
    ]
    for spec in out:
        if spec.kind == "project":
            assert spec.dockerfile is not None
            text = spec.dockerfile.read_text()
            assert "python:3.11.11-slim-bookworm" in text, f"{spec.dockerfile}: base changed"
    return out


# --- podman -------------------------------------------------------------------------


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(IMAGES / "containers.conf")}


def podman(*args: str, check: bool = True, capture: bool = True,
           cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    # Build logs go to stderr: stdout carries only the summary and the manifest path.
    proc = subprocess.run(["podman", *args], env=podman_env(), cwd=cwd, text=True,
                          capture_output=capture, stdout=None if capture else sys.stderr,
                          check=False)
    if check and proc.returncode != 0:
        sys.stderr.write(proc.stdout or "")
        sys.stderr.write(proc.stderr or "")
        raise SystemExit(f"build-images: podman {' '.join(args[:3])} ... failed "
                         f"(exit {proc.returncode})")
    return proc


def inspect(ref: str) -> dict | None:
    proc = podman("image", "inspect", ref, check=False)
    if proc.returncode != 0:
        return None
    data = json.loads(proc.stdout)
    return data[0] if data else None


# --- cache keys ---------------------------------------------------------------------


def hash_tree(h: KeyHash, root: Path, rel: str, exclude: re.Pattern[str]) -> None:
    paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    for path in paths:
        name = rel if root.is_file() else f"{rel}/{path.relative_to(root)}"
        if exclude.search(name):
            continue
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0", name)


# What .dockerignore leaves out of the project's COPY sources.
PROJECT_EXCLUDE = re.compile(r"(^|/)(__pycache__|\.env)(/|$)|\.(pyc|pem|key|md)$|\.egg-info(/|$)")
NOTHING = re.compile(r"a^")


def copy_sources(dockerfile: Path) -> list[str]:
    """Repo paths the Dockerfile's COPY lines take from the build context."""
    sources: list[str] = []
    for line in dockerfile.read_text().splitlines():
        parts = line.split()
        if parts[:1] == ["COPY"] and not any(p.startswith("--from") for p in parts):
            sources += [p for p in parts[1:-1] if not p.startswith("--")]
    return sources


def apt_packages(containerfile: Path) -> list[str]:
    """Packages named by `apt-get install` in a Containerfile's RUN lines."""
    text = re.sub(r"\\\n", " ", containerfile.read_text())
    found: list[str] = []
    for match in re.finditer(r"apt-get install ([^&;\n]*)", text):
        found += [w for w in match.group(1).split() if not w.startswith("-")]
    return found


def apt_candidates(packages: list[str]) -> str:
    """Candidate versions in this machine's apt lists (same mirror the images use)."""
    if not packages:
        return ""
    proc = subprocess.run(["apt-cache", "policy", *packages], capture_output=True, text=True,
                          check=False)
    pairs = re.findall(r"^(\S+):\n(?:.*\n)*?\s+Candidate: (\S+)", proc.stdout, re.MULTILINE)
    return " ".join(f"{p}={v}" for p, v in pairs)


def debian_mirrors() -> list[str]:
    """One-line apt sources for bookworm from this machine's own apt configuration."""
    lines: list[str] = []
    legacy = Path("/etc/apt/sources.list")
    files = [legacy] if legacy.exists() else []
    files += sorted(Path("/etc/apt/sources.list.d").glob("*.list"))
    for f in files:
        for line in f.read_text().splitlines():
            parts = line.split("#", 1)[0].split()
            if len(parts) >= 4 and parts[0] == "deb" and not parts[1].startswith("["):
                lines.append(" ".join(parts))
    for f in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", f.read_text()):
            fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.MULTILINE))
            if "deb" not in fields.get("Types", "").split() or fields.get("Enabled") == "no":
                continue
            for uri in fields.get("URIs", "").split():
                for suite in fields.get("Suites", "").split():
                    lines.append(f"deb {uri} {suite} {fields.get('Components', 'main')}")
    mirrors = [m for m in lines if m.split()[2].startswith(SUITE)]
    if not mirrors:
        raise SystemExit(f"build-images: no {SUITE} source in /etc/apt/sources.list*")
    return mirrors


class KeyHash:
    """sha256 over the inputs, with a readable record of each (IMAGES/<name>.inputs)."""

    def __init__(self, first: str) -> None:
        self.h = hashlib.sha256()
        self.record: list[str] = []
        self.update(first.encode(), "recipe")

    def update(self, data: bytes, what: str = "") -> None:
        self.h.update(data)
        if what:
            self.record.append(f"{what} {hashlib.sha256(data).hexdigest()[:12]}")

    def hexdigest(self) -> str:
        return self.h.hexdigest()


def cache_key(spec: Spec, ids: dict[str, str]) -> str:
    h = KeyHash(f"{RECIPE}\0{spec.name}\0{spec.ref}\0")
    key = _cache_key(spec, ids, h)
    (IMAGES / f"{spec.name}.inputs").write_text("\n".join(h.record) + "\n")
    return key


def _cache_key(spec: Spec, ids: dict[str, str], h: KeyHash) -> str:
    if spec.kind == "mmdebstrap":
        version = subprocess.run(["mmdebstrap", "--version"], capture_output=True, text=True,
                                 check=False).stdout
        h.update("\n".join(debian_mirrors()).encode() + version.encode(), "mirrors+mmdebstrap")
        h.update(apt_candidates(["base-files", "libc6", "dpkg", "apt", "bash"]).encode(), "apt")
        h.update(pyinspect.getsource(build_debian).encode(), "build_debian")
        return h.hexdigest()[:32]
    assert spec.dockerfile is not None
    h.update(spec.dockerfile.read_bytes(), "dockerfile")
    if spec.base:
        h.update(ids[spec.base].encode(), f"base={ids[spec.base][:12]}")
    if spec.kind == "project":
        hash_tree(h, REPO / ".dockerignore", ".dockerignore", NOTHING)
        for source in copy_sources(spec.dockerfile):
            hash_tree(h, REPO / source, source, PROJECT_EXCLUDE)
        versions = apt_candidates(apt_packages(spec.dockerfile))  # the build stage's binutils
        h.update(versions.encode(), f"apt {versions}")
    else:
        hash_tree(h, spec.dockerfile.parent, spec.dockerfile.parent.name, NOTHING)
        for rel, host in spec.extra.items():
            hash_tree(h, host, rel, NOTHING)
        versions = apt_candidates(apt_packages(spec.dockerfile))
        h.update(versions.encode(), f"apt {versions}")
    return h.hexdigest()[:32]


# --- builds -------------------------------------------------------------------------


def build_debian(spec: Spec, key: str) -> None:
    with tempfile.TemporaryDirectory(prefix="registro-debian-") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        # minbase + slim-like dpkg excludes (docs, man pages, translations).
        excludes = ["/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*",
                    "/usr/share/locale/*", "/usr/share/lintian/*"]
        cmd = ["mmdebstrap", "--variant=minbase", "--format=tar"]
        cmd += [f"--dpkgopt=path-exclude={p}" for p in excludes]
        cmd += ["--dpkgopt=path-include=/usr/share/doc/*/copyright"]
        cmd += [SUITE, str(rootfs), *debian_mirrors()]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr[-4000:])
            raise SystemExit("build-images: mmdebstrap failed")
        podman("import", "--change", 'CMD ["bash"]', "--change", f"LABEL {LABEL}={key}",
               str(rootfs), spec.ref)


def build_containerfile(spec: Spec, key: str, fresh: bool = False) -> None:
    assert spec.dockerfile is not None
    common = ["build", "--pull=never", "--network=host", "--layers",
              *(["--no-cache"] if fresh else []),
              "--label", f"{LABEL}={key}", "-t", spec.ref, "-f"]
    if spec.kind == "project":
        # The project's Dockerfile unchanged, from the repo (.dockerignore trims the context).
        # Its dependency stage is tagged first: the prune after a build removes untagged
        # images with the label, and with them the cache of a stage nothing tagged ends in
        # (the dependency install then ran again on every source edit).
        podman(*common[:-3], "-t", deps_ref(spec), "--target", "deps", "-f",
               str(spec.dockerfile), str(REPO), capture=False)
        labels = ["--build-arg", f"VERSION={chart_app_version()}",
                  "--build-arg", f"REVISION={revision(spec.dockerfile)}"]
        podman(*common[:-1], *labels, "-f", str(spec.dockerfile), str(REPO), capture=False)
        return
    with tempfile.TemporaryDirectory(prefix=f"registro-{spec.name}-") as tmp:
        context = Path(tmp) / "context"
        shutil.copytree(spec.dockerfile.parent, context)
        for rel, host in spec.extra.items():
            if host.is_dir():
                (context / rel).mkdir()
                for crt in sorted(host.glob("*.crt")):
                    shutil.copy2(crt, context / rel / crt.name)
            else:
                shutil.copy2(host, context / rel)
        podman(*common, str(context / "Containerfile"), str(context), capture=False)


def deps_ref(spec: Spec) -> str:
    """The tag of a project image's dependency stage (a build cache, never deployed)."""
    return f"localhost/{spec.ref.rsplit('/', 1)[-1].split(':')[0]}-deps:cache"


def revision(dockerfile: Path) -> str:
    """The commit the image is built from; ``-dirty`` if its inputs have local changes."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                          text=True, check=False)
    if head.returncode != 0:
        return "unknown"
    paths = [dockerfile.name, ".dockerignore", *copy_sources(dockerfile)]
    status = subprocess.run(["git", "status", "--porcelain", "--", *paths], cwd=REPO,
                            capture_output=True, text=True, check=False)
    return head.stdout.strip() + ("-dirty" if status.stdout.strip() else "")


def archive_path(spec: Spec) -> Path:
    return IMAGES / f"{spec.name}.tar"


def export(spec: Spec, key: str) -> None:
    archive = archive_path(spec)
    tmp = archive.with_suffix(".tar.part")
    tmp.unlink(missing_ok=True)
    podman("save", "--format", "docker-archive", "-o", str(tmp), spec.ref)
    tmp.rename(archive)
    archive.with_suffix(".key").write_text(key)


@contextlib.contextmanager
def locked() -> Iterator[None]:
    with open(IMAGES / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def with_bases(wanted: list[str], all_specs: dict[str, Spec]) -> set[str]:
    out: set[str] = set()
    for name in wanted:
        while name and name not in out:
            if name not in all_specs:
                raise SystemExit(f"build-images: unknown image {name!r} "
                                 f"(known: {', '.join(all_specs)})")
            out.add(name)
            name = all_specs[name].base or ""
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description="Build Registro's images (see build-images.sh).")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="these images and their bases")
    ap.add_argument("--no-cache", action="store_true", help="rebuild everything from scratch (no podman layer cache either)")
    args = ap.parse_args()
    if shutil.which("podman") is None:
        raise SystemExit("build-images: podman not found (scripts/build-images.sh installs it)")
    IMAGES.mkdir(parents=True, exist_ok=True)
    (IMAGES / "containers.conf").write_text(CONTAINERS_CONF)
    all_specs = {s.name: s for s in specs()}
    selected = with_bases(args.only, all_specs) if args.only else set(all_specs)
    manifest_path = IMAGES / "manifest.json"
    with locked():
        manifest = {"images": {}}
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
            manifest = json.loads(manifest_path.read_text())
        manifest["containers_conf"] = str(IMAGES / "containers.conf")
        ids: dict[str, str] = {}
        total = time.perf_counter()
        for name, spec in all_specs.items():
            if name not in selected:
                continue
            started = time.perf_counter()
            key = cache_key(spec, ids)
            info = inspect(spec.ref)
            cached = (not args.no_cache and info is not None
                      and (info.get("Labels") or {}).get(LABEL) == key)
            previous = manifest["images"].get(name, {})
            if not cached:
                print(f"build-images: building {spec.ref} ...", file=sys.stderr, flush=True)
                if spec.kind == "mmdebstrap":
                    build_debian(spec, key)
                else:
                    build_containerfile(spec, key, fresh=args.no_cache)
                info = inspect(spec.ref)
                assert info is not None and (info.get("Labels") or {}).get(LABEL) == key
            archive = archive_path(spec)
            key_file = archive.with_suffix(".key")
            if not (archive.exists() and key_file.exists() and key_file.read_text() == key):
                export(spec, key)
            seconds = round(time.perf_counter() - started, 1)
            ids[name] = info["Id"]
            entry = {
                "ref": spec.ref, "id": info["Id"], "archive": str(archive),
                "size_bytes": int(info.get("Size") or 0), "build_seconds": seconds,
                "cold_build_seconds": (previous.get("cold_build_seconds", seconds)
                                       if cached else seconds),
                "cached": cached, "key": key,
            }
            manifest["images"][name] = entry
            print(f"{name:9} {spec.ref:55} {entry['size_bytes'] / 2**20:7.0f} MiB "
                  f"{seconds:7.1f} s  {'cached' if cached else 'built'}  {archive}", flush=True)
        if any(not e["cached"] for n, e in manifest["images"].items() if n in selected):
            # The images these builds replaced (untagged now): reclaim their disk.
            podman("image", "prune", "--force", "--filter", f"label={LABEL}", check=False)
        tmp = manifest_path.with_suffix(".json.part")
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
        tmp.rename(manifest_path)
    print(f"build-images: {len(selected)} images in {time.perf_counter() - total:.1f} s",
          file=sys.stderr)
    print(manifest_path)


if __name__ == "__main__":
    main()
