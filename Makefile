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
TEST_PACKAGES := $(RUN_PACKAGES) postgresql prometheus prometheus-redis-exporter wrk openssl $(CLUSTER_PACKAGES) $(IMAGE_PACKAGES)

.PHONY: help run test venv system-deps-run system-deps-test lint clean helm-tool k8s-manifests k8s-tools kube-score-tool images

help:
	@echo "make run    - start Registro locally (Redis, demo legacy system, worker, API)"
	@echo "make test   - install what the tests need and run them"

system-deps-run:
	@scripts/install-system-deps.sh $(RUN_PACKAGES)

system-deps-test:
	@scripts/install-system-deps.sh $(TEST_PACKAGES)

venv: $(VENV)/.synced

$(VENV)/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null || $(PYTHON) -m pip install --quiet --root-user-action=ignore "uv==$(UV_VERSION)"
	uv sync --frozen --all-extras --python $(PYTHON)
	@touch $@

run: system-deps-run venv
	$(BIN)/registro up

test: system-deps-test venv helm-tool k8s-tools kube-score-tool images
	$(BIN)/ruff check .
	$(BIN)/pytest

# etcd, kube-apiserver and kubectl (operator tests' control plane; operator/README.md) and
# the one-node cluster's kube-controller-manager, kube-scheduler, kubelet, kube-proxy,
# containerd and CoreDNS (tests/cluster), built from the Go module proxy and cached
# outside the repo by version.
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

lint: venv
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) var .pytest_cache

# --- async pipeline benchmarks (see api/README.md); sizes via ARGS="--clients 100 ..." ---
.PHONY: bench-api bench-e2e
bench-api: system-deps-test venv
	$(BIN)/python benchmarks/bench_api.py $(ARGS)

bench-e2e: system-deps-test venv
	$(BIN)/python benchmarks/bench_e2e.py $(ARGS)

# --- scraper benchmark (see worker/README.md); options via ARGS="--latency-ms 100 ..." ---
.PHONY: bench-scraper
bench-scraper: system-deps-run venv
	$(BIN)/python benchmarks/bench_scraper.py $(ARGS)
