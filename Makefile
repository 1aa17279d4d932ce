# Registro: the two commands are `make run` and `make test`. Both install what is
# missing (Debian packages, the Python environment) and start what they need.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never

PYTHON ?= python3.11
UV_VERSION ?= 0.13.9
VENV := .venv
BIN := $(VENV)/bin

RUN_PACKAGES := redis-server chromium chromium-driver
# The one-node test cluster (tests/cluster): container runtime, CNI, kube-proxy's tools,
# catatonit for the pause image and a static busybox for network probes in pods.
CLUSTER_PACKAGES := runc iptables conntrack iproute2 containernetworking-plugins catatonit busybox-static
# Container images (scripts/build-images.sh): podman/buildah with runc, mmdebstrap for the
# local debian base, catatonit for the pause image.
IMAGE_PACKAGES := podman buildah fuse-overlayfs runc mmdebstrap uidmap conmon catatonit
# binutils: strip, for the image tests' local copies of the images' build steps (images/trim-venv.sh).
TEST_PACKAGES := $(RUN_PACKAGES) postgresql prometheus prometheus-redis-exporter wrk openssl binutils $(CLUSTER_PACKAGES) $(IMAGE_PACKAGES)

.PHONY: help run test test-fast venv bytecode system-deps-run system-deps-test lint clean helm-tool k8s-manifests k8s-tools \
	kube-score-tool images node-check web web-consumers web-deps web-test web-types

help:
	@echo "make run    - start Registro locally (Redis, demo legacy system, worker, API)"
	@echo "make test   - install what the tests need and run them"
	@echo "make test-fast - lint, types and the in-process tests (the edit loop, < 2 min)"
	@echo "make web    - build the web client and the demo page (npm ci from web/package-lock.json)"

system-deps-run:
	@scripts/install-system-deps.sh $(RUN_PACKAGES)

system-deps-test:
	@scripts/install-system-deps.sh $(TEST_PACKAGES)

venv: $(VENV)/.synced

# Bytecode is compiled here, once: where PYTHONDONTWRITEBYTECODE is set (as on these
# machines) Python never writes it, and every process compiled its imports again (a
# worker's took 2.6 s of CPU instead of 0.7 s; make test starts some 300 processes).
$(VENV)/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null || $(PYTHON) -m pip install --quiet --root-user-action=ignore "uv==$(UV_VERSION)"
	uv sync --frozen --all-extras --compile-bytecode --python $(PYTHON)
	@touch $@

# The project's own modules' bytecode (quick; stale files are recompiled in memory).
bytecode: venv
	@$(BIN)/python -m compileall -q -j 0 api worker registro operator legacy_demo devstack \
		tests benchmarks scripts >/dev/null

run: system-deps-run venv web
	$(BIN)/registro up

# Each phase prints "[phase] NAME: N s" (scripts/fresh-machine-check.sh collects them).
# Then three lanes at once (scripts/pytest-tiers.sh): pytest on PYTEST_WORKERS xdist
# processes; ruff and mypy, the web unit tests, the image tests and the web consumer
# apps; the images, then the real-pods tier (tests/cluster).
PYTEST_WORKERS ?= 2
export PYTEST_WORKERS
PYTEST_ARGS ?=
test:
	@scripts/phase.sh packages $(MAKE) -s system-deps-test
	@scripts/phase.sh python $(MAKE) -s venv bytecode
	@scripts/phase.sh tools $(MAKE) -s helm-tool k8s-tools kube-score-tool
	@scripts/phase.sh web $(MAKE) -s web
	@scripts/phase.sh web-consumers $(MAKE) -s web-consumers
	@scripts/pytest-tiers.sh $(PYTEST_ARGS)

# The edit loop (under 2 minutes): ruff, mypy, and the in-process tier (pytest -m fast:
# the API over its ASGI transport against a real Redis, settings, the scaling policy).
test-fast: venv
	@scripts/install-system-deps.sh redis-server
	@scripts/phase.sh lint-and-types $(MAKE) -s lint
	@scripts/phase.sh pytest-fast $(BIN)/pytest -m fast -q $(PYTEST_ARGS)

# etcd, kube-apiserver and kubectl (operator tests' control plane; operator/README.md) and
# the one-node cluster's kube-controller-manager, kube-scheduler, kubelet, kube-proxy,
# containerd, CoreDNS and metrics-server (tests/cluster), built from the Go module proxy
# and cached outside the repo by version.
k8s-tools:
	@BUILD_NODE=1 scripts/build-k8s.sh >/dev/null

# The container images: the three project images and local stand-ins for the base and
# third-party images, built with podman, cached by what they are built from and exported
# as archives under ~/.cache/registro-tools/images (manifest.json lists them).
images:
	@scripts/build-images.sh

# Helm v3 built from the Go module proxy, cached outside the repo (delivery).
helm-tool:
	@scripts/build-helm.sh >/dev/null

# kube-score (third-party manifest scanner) built from the Go module proxy, cached
# outside the repo (delivery: tests/delivery/test_kube_score.py).
kube-score-tool:
	@scripts/build-kube-score.sh >/dev/null

# Regenerate the plain manifests in k8s/ from the chart (delivery).
k8s-manifests: helm-tool
	scripts/render-k8s.sh

# --- web/: TypeScript client, React bindings, demo page (see web/README.md) ---
# Vite needs Node.js ^20.19 or >=22.12 (with npm); Debian 12's nodejs (18) is too old.
NODE_VERSION_OK := const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 12) || (a === 20 && b >= 19) ? 0 : 1)
node-check:
	@command -v npm >/dev/null && node -e '$(NODE_VERSION_OK)' \
	  || { echo "web/ needs Node.js 20.19+ or 22.12+ with npm (node: $$(node -v 2>/dev/null || echo none))" >&2; exit 1; }

# Exactly the lockfile's packages (npm ci), again whenever the lockfile changes.
web-deps: node-check web/node_modules/.ci-installed

web/node_modules/.ci-installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $@

# The library (ESM + .d.ts in web/dist/lib, web/dist/types) and the demo page that
# `registro up` serves (web/dist/demo).
web: web-deps
	cd web && npm run build

# Unit tests, then the packed tarball checked and type-checked as a host application
# imports it, then installed into the scratch Vite and Next.js apps (web/consumers/).
web-test: web web-consumers venv
	cd web && npm test && npm run check:package && npm run test:consumers

# The scratch consumer apps' node_modules (npm ci from web/consumers/*/package-lock.json),
# cached in ~/.cache/registro-tools/web-consumers/<app>-<hash of what it was installed from>.
web-consumers: node-check
	cd web && node scripts/consumers.mjs install

# Regenerate web/src/client/openapi.d.ts from the API's OpenAPI document.
web-types: web-deps venv
	cd web && npm run gen:types

lint: venv
	$(BIN)/ruff check .
	scripts/typecheck.sh

clean:
	rm -rf $(VENV) var .pytest_cache web/node_modules web/dist

# --- async pipeline benchmarks (see api/README.md); sizes via ARGS="--clients 100 ..." ---
.PHONY: bench-api bench-api-paced bench-e2e bench-faults
bench-api: system-deps-test venv
	$(BIN)/python benchmarks/bench_api.py $(ARGS)

# Paced users (open loop, aiohttp) and wrk saturation vs a bare one-Redis-GET route.
bench-api-paced: system-deps-test venv
	$(BIN)/python benchmarks/bench_api_paced.py $(ARGS)

bench-e2e: system-deps-test venv
	$(BIN)/python benchmarks/bench_e2e.py $(ARGS)

bench-faults: system-deps-test venv
	$(BIN)/python benchmarks/bench_faults.py $(ARGS)

# User lookups' wait with and without a background-refresh backlog (benchmarks/README.md).
.PHONY: bench-refresh
bench-refresh: system-deps-test venv
	$(BIN)/python benchmarks/bench_refresh_priority.py $(ARGS)

# --- scraper benchmark (see worker/README.md); options via ARGS="--latency-ms 100 ..." ---
.PHONY: bench-scraper
bench-scraper: system-deps-run venv
	$(BIN)/python benchmarks/bench_scraper.py $(ARGS)
