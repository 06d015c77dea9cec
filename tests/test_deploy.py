"""The deployment files, offline: HAProxy's config as Debian's HAProxy parses it, the Kubernetes
manifests against the Kubernetes API schema (kubernetes-validate, strict: an unknown field is an
error), the compose file's shape, and the settings a hospital's review asks of each. The scale
test (tests/container/test_scale.py, `make scale-test`) runs the HAProxy config in front of two
containers of the image."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUBERNETES = "1.30"


def manifests() -> dict[str, dict]:
    docs = {}
    for f in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        if f.name == "kustomization.yaml":  # kubectl's list of files, not an API object
            continue
        for doc in yaml.safe_load_all(f.read_text()):
            docs[doc["kind"]] = doc
    return docs


def test_haproxy_accepts_the_config():
    out = subprocess.run([haproxy_binary(), "-c", "-f", str(DEPLOY / "haproxy.cfg")], capture_output=True, text=True,
                         env={"PATH": "/usr/sbin:/usr/bin"})
    assert out.returncode == 0, out.stdout + out.stderr


def test_haproxy_config_keeps_what_the_app_needs():
    cfg = (DEPLOY / "haproxy.cfg").read_text()
    lines = [line.split("#")[0].strip() for line in cfg.splitlines()]
    assert any(line.startswith("cookie dashboard_replica insert") and "httponly" in line for line in lines)
    assert "timeout tunnel 1h" in lines
    assert "option httpchk GET /_stcore/health" in lines
    assert any("path,url_dec -m beg /_stcore/metrics" in line and line.startswith("http-request deny deny_status 404")
               for line in lines)
    assert any("req.hdr(origin)" in line and "deny_status 403" in line for line in lines)
    assert any(line.startswith("compression algo gzip") for line in lines)
    assert any(line.startswith("compression type") and "application/javascript" in line for line in lines)
    assert any("upload_file" in line and "regsub" in line for line in lines)  # session ids not logged


def test_kubernetes_manifests_are_valid_and_a_typo_is_not():
    import kubernetes_validate

    docs = manifests()
    assert set(docs) >= {"Deployment", "Service", "Ingress", "HorizontalPodAutoscaler", "PersistentVolumeClaim", "Secret"}
    for kind, doc in docs.items():
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    broken = copy.deepcopy(docs["Deployment"])
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["readOnlyRootFileSystem"] = container["securityContext"].pop("readOnlyRootFilesystem")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_the_deployment_is_hardened_and_probes_health():
    docs = manifests()
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == 10001
    assert c["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]}}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["path"] == "/_stcore/health"
    assert c["resources"]["requests"]["memory"] and c["resources"]["limits"]["memory"]
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert mounts["cohort"]["readOnly"] and mounts["secrets"]["mountPath"] == "/app/.streamlit/secrets.toml"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["cohort"]["persistentVolumeClaim"]["readOnly"]
    assert volumes["secrets"]["secret"]["secretName"] == docs["Secret"]["metadata"]["name"]
    assert {e["name"]: e["value"] for e in c["env"]}["COHORT_PATH"] == mounts["cohort"]["mountPath"]


def test_the_ingress_pins_each_browser_and_keeps_websockets():
    docs = manifests()
    a = docs["Ingress"]["metadata"]["annotations"]
    assert a["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert int(a["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert not any("snippet" in k for k in a)  # refused by ingress-nginx 1.9+ unless allowed
    backend = docs["Ingress"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == docs["Service"]["metadata"]["name"]
    assert docs["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == docs["Deployment"]["metadata"]["name"]
    assert docs["HorizontalPodAutoscaler"]["spec"]["minReplicas"] >= 2


def test_compose_runs_replicas_behind_the_balancer():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    app, balancer = compose["services"]["dashboard"], compose["services"]["balancer"]
    assert app["deploy"]["replicas"] == "${DASHBOARD_REPLICAS:-2}"
    assert app["read_only"] and "/tmp" in app["tmpfs"]
    assert any(v.endswith(":/cohort:ro") for v in app["volumes"]) and app["environment"]["COHORT_PATH"] == "/cohort"
    assert app["secrets"][0]["target"] == "/app/.streamlit/secrets.toml"
    assert (DEPLOY / compose["secrets"]["dashboard_secrets"]["file"].split(":-")[1].rstrip("}")).exists()
    assert "./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in balancer["volumes"]
    assert balancer["environment"]["DASHBOARD_REPLICAS"] == "dashboard"
    assert balancer["ports"] == ["127.0.0.1:8080:8080"]
    assert "ports" not in app  # replicas are reached through the balancer only


def test_kustomization_applies_every_manifest_but_the_secret_example():
    listed = set(yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())["resources"])
    files = {f.name for f in (DEPLOY / "kubernetes").glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == files


def haproxy_binary() -> str:
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(haproxy).exists():
        if __import__("os").environ.get("CI"):
            pytest.fail("haproxy is missing in CI: .ci/run must install Debian's haproxy", pytrace=False)
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    return haproxy


def test_haproxy_refuses_internal_paths_however_spelled_and_foreign_origins(tmp_path):
    """The balancer's own answers, with no replica behind it: the internal endpoints in any
    percent-encoding get 404, a foreign Origin 403, everything else goes on to the (absent)
    replicas (503)."""
    import http.client
    import time

    from testkit.browser_support import free_port

    port = free_port()
    env = {"PATH": "/usr/sbin:/usr/bin:/bin", "DASHBOARD_DNS": "127.0.0.1:1", "DASHBOARD_BIND": f"127.0.0.1:{port}",
           "DASHBOARD_ORIGIN": "https://dashboard.hospital.example", "DASHBOARD_COOKIE_KEY": "test"}
    log = (tmp_path / "haproxy.log").open("w")
    proc = subprocess.Popen([haproxy_binary(), "-db", "-f", str(DEPLOY / "haproxy.cfg")], env=env, stdout=log,
                            stderr=subprocess.STDOUT)

    def status(path: str, **headers: str) -> int:
        for _ in range(50):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", path, headers=headers)
                return c.getresponse().status
            except OSError:
                time.sleep(0.1)
        raise AssertionError((tmp_path / "haproxy.log").read_text())

    try:
        for path in ("/_stcore/metrics", "/_stcore/%6detrics", "/_stcore/%6D%65trics", "/_stcore/agent",
                     "/_stcore/%61gent/interact", "/_stcore/metrics?x=1"):
            assert status(path) == 404, path
        assert status("/", Origin="https://evil.example") == 403
        assert status("/", Origin="https://dashboard.hospital.example") == 503  # allowed; no replica here
        assert status("/_stcore/health") == 503
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def test_the_app_itself_closes_its_internal_endpoints(tmp_path):
    """Whatever proxy is in front (an Ingress without snippets), the server answers 404 for
    Streamlit's metrics and agent API, in the spelling the client sends or decoded."""
    import urllib.error
    import urllib.request

    from testkit.browser_support import serving

    with serving(tmp_path / "server.log") as served:
        for path in ("/_stcore/metrics", "/_stcore/%6detrics", "/_stcore/agent/interact"):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(served.url + path, timeout=10)
            assert err.value.code == 404, path
        assert urllib.request.urlopen(served.url + "/_stcore/health", timeout=10).read() == b"ok"
