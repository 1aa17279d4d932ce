"""A real Kubernetes control plane for the tests: etcd + kube-apiserver on loopback.

Built by ``scripts/build-k8s.sh`` (cached outside the repo), started here the way
controller-runtime's envtest does: generated certificates, RBAC authorization, an
admin kubeconfig (group ``system:masters``) and ServiceAccount token kubeconfigs.
When ``KUBECONFIG`` points at a real cluster, that cluster is used instead.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import shutil
import ssl
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devstack.processes import free_port, wait_for_port
from devstack.waits import wait_until

REPO = Path(__file__).resolve().parents[2]
CACHE_ROOT = Path(os.environ.get("REGISTRO_TOOLS_CACHE", "/root/.cache/registro-tools"))
K8S_VERSION = os.environ.get("K8S_VERSION", "v1.37.2")


def bin_dir() -> Path | None:
    """The cached control-plane binaries of ``K8S_VERSION`` (or ``REGISTRO_K8S_BIN``)."""
    explicit = os.environ.get("REGISTRO_K8S_BIN")
    d = Path(explicit) if explicit else CACHE_ROOT / f"k8s-{K8S_VERSION}" / "bin"
    if all((d / b).is_file() for b in ("etcd", "kube-apiserver", "kubectl")):
        return d
    return None


def kubectl_binary() -> str | None:
    d = bin_dir()
    return str(d / "kubectl") if d else shutil.which("kubectl")


# --- certificates ---------------------------------------------------------------


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _cert(subject: x509.Name, key, issuer: x509.Name, issuer_key, *, ca: bool = False,
          sans: list[x509.GeneralName] | None = None, server: bool = False) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(issuer).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                          content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False), critical=True)
    else:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def generate_pki(d: Path) -> dict[str, Path]:
    d.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("registro-test-ca")
    ca = _cert(ca_name, ca_key, ca_name, ca_key, ca=True)
    srv_key = ec.generate_private_key(ec.SECP256R1())
    srv = _cert(_name("kube-apiserver"), srv_key, ca_name, ca_key, server=True, sans=[
        x509.DNSName("localhost"), x509.DNSName("kubernetes.default.svc"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
    ])
    admin_key = ec.generate_private_key(ec.SECP256R1())
    admin = _cert(_name("registro-admin", "system:masters"), admin_key, ca_name, ca_key)
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    files = {
        "ca.crt": _pem_cert(ca), "server.crt": _pem_cert(srv), "server.key": _pem_key(srv_key),
        "admin.crt": _pem_cert(admin), "admin.key": _pem_key(admin_key),
        "sa.key": _pem_key(sa_key),
        "sa.pub": sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
    }
    paths = {}
    for fname, data in files.items():
        p = d / fname
        p.write_bytes(data)
        p.chmod(0o600)
        paths[fname] = p
    return paths


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write_kubeconfig(path: Path, server: str, ca_pem: bytes, user: dict, namespace: str = "default"
                     ) -> Path:
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "registro",
        "clusters": [{"name": "registro", "cluster": {
            "server": server, "certificate-authority-data": _b64(ca_pem)}}],
        "users": [{"name": "registro", "user": user}],
        "contexts": [{"name": "registro", "context": {
            "cluster": "registro", "user": "registro", "namespace": namespace}}],
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


# --- the cluster ------------------------------------------------------------------


@dataclass
class KubeCluster:
    admin_kubeconfig: Path
    workdir: Path
    external: bool = False
    processes: list[subprocess.Popen] = field(default_factory=list)
    logs: list = field(default_factory=list)

    def api_client(self, kubeconfig: Path | None = None):
        """A kubernetes ApiClient for ``kubeconfig`` (default: admin), not touching globals."""
        import kubernetes

        return kubernetes.config.new_client_from_config(
            config_file=str(kubeconfig or self.admin_kubeconfig))

    def kubectl(self, *args: str, kubeconfig: Path | None = None, check: bool = True,
                input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        binary = kubectl_binary()
        if binary is None:
            raise FileNotFoundError("kubectl not found (scripts/build-k8s.sh)")
        return subprocess.run(
            [binary, "--kubeconfig", str(kubeconfig or self.admin_kubeconfig), *args],
            capture_output=True, text=True, check=check, input=input, timeout=timeout)

    def service_account_kubeconfig(self, namespace: str, name: str,
                                   seconds: int = 3600) -> Path:
        """A kubeconfig holding a fresh token of ServiceAccount ``namespace/name``
        (TokenRequest API; the ServiceAccount must exist)."""
        import kubernetes

        with self.api_client() as client:
            core = kubernetes.client.CoreV1Api(client)
            req = kubernetes.client.AuthenticationV1TokenRequest(
                spec=kubernetes.client.V1TokenRequestSpec(
                    audiences=[], expiration_seconds=seconds))
            token = core.create_namespaced_service_account_token(name, namespace, req).status.token
            server = client.configuration.host
            ca_file = client.configuration.ssl_ca_cert
        ca_pem = Path(ca_file).read_bytes() if ca_file else b""
        path = self.workdir / f"sa-{namespace}-{name}.kubeconfig"
        return write_kubeconfig(path, server, ca_pem, {"token": token}, namespace)

    def stop(self) -> None:
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for f in self.logs:
            f.close()
        shutil.rmtree(self.workdir, ignore_errors=True)  # external: admin kubeconfig lives elsewhere


def _wait_ready(server: str, pki: dict[str, Path], proc: subprocess.Popen, log: Path,
                timeout: float = 90) -> None:
    last = ""
    tls = ssl.create_default_context(cafile=str(pki["ca.crt"]))
    tls.load_cert_chain(str(pki["admin.crt"]), str(pki["admin.key"]))
    with httpx.Client(verify=tls, timeout=2) as c:
        def ready() -> bool:
            nonlocal last
            if proc.poll() is not None:
                raise RuntimeError(f"kube-apiserver exited ({proc.returncode}):\n"
                                   + log.read_text()[-3000:])
            try:
                r = c.get(f"{server}/readyz")
            except httpx.HTTPError as e:
                last = repr(e)
                return False
            last = r.text
            return r.status_code == 200

        wait_until(ready, timeout, interval=0.3, what="kube-apiserver /readyz",
                   diagnose=lambda: last[-2000:])


def start_control_plane(bins: Path) -> KubeCluster:
    workdir = Path(tempfile.mkdtemp(prefix="registro-kube-"))
    cluster = KubeCluster(workdir / "admin.kubeconfig", workdir)
    try:
        pki = generate_pki(workdir / "pki")
        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        etcd_log = open(workdir / "etcd.log", "wb")  # noqa: SIM115 - closed in stop()
        cluster.logs.append(etcd_log)
        etcd = subprocess.Popen([
            str(bins / "etcd"), "--name", "default", "--data-dir", str(workdir / "etcd"),
            "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"default={peer_url}", "--unsafe-no-fsync",
            "--log-level", "warn",
        ], stdout=etcd_log, stderr=subprocess.STDOUT)
        cluster.processes.append(etcd)
        wait_for_port(etcd_port, proc=etcd)

        api_log_path = workdir / "kube-apiserver.log"
        api_log = open(api_log_path, "wb")  # noqa: SIM115 - closed in stop()
        cluster.logs.append(api_log)
        api = subprocess.Popen([
            str(bins / "kube-apiserver"),
            f"--etcd-servers={etcd_url}",
            f"--secure-port={api_port}", "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",  # loopback cannot be a Service endpoint
            f"--cert-dir={workdir / 'pki'}",
            f"--tls-cert-file={pki['server.crt']}", f"--tls-private-key-file={pki['server.key']}",
            f"--client-ca-file={pki['ca.crt']}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--authorization-mode=RBAC",
            "--disable-admission-plugins=ServiceAccount",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={pki['sa.pub']}",
            f"--service-account-signing-key-file={pki['sa.key']}",
            "--v=1",
        ], stdout=api_log, stderr=subprocess.STDOUT)
        cluster.processes.append(api)
        server = f"https://127.0.0.1:{api_port}"
        _wait_ready(server, pki, api, api_log_path)
        write_kubeconfig(cluster.admin_kubeconfig, server, pki["ca.crt"].read_bytes(), {
            "client-certificate-data": _b64(pki["admin.crt"].read_bytes()),
            "client-key-data": _b64(pki["admin.key"].read_bytes()),
        })
        return cluster
    except BaseException:
        cluster.stop()
        raise


def external_cluster(kubeconfig: Path) -> KubeCluster:
    workdir = Path(tempfile.mkdtemp(prefix="registro-kube-ext-"))
    cluster = KubeCluster(kubeconfig, workdir, external=True)
    return cluster
