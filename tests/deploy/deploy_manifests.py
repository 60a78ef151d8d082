"""Render deploy/ overlays with `kubectl kustomize` and read the rendered objects.

Shared by the schema/consistency tests and the boot test, so both look at exactly what
`kubectl apply -k deploy/overlays/<name>` would send to a cluster.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent.parent
DEPLOY = REPO / "deploy"
OVERLAYS = ("dev", "production")
# The Kubernetes version the objects are validated against (kubernetes-validate's schemas).
KUBERNETES_VERSION = "1.32.0"


def kubectl() -> str:
    """kubectl's path. CI runs on a machine that has it: a missing kubectl is a failure to
    fix (install the `kubectl` package), never a reason to skip the check."""
    path = shutil.which("kubectl")
    if path is None:
        raise RuntimeError("kubectl is not on PATH: the deploy/ tests render the manifests "
                           "with `kubectl kustomize` (apt-get install kubectl)")
    return path


def render(overlay: str) -> list[dict]:
    """Every object `kubectl kustomize deploy/overlays/<overlay>` renders, in order."""
    result = subprocess.run([kubectl(), "kustomize", str(DEPLOY / "overlays" / overlay)],
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {overlay} failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@dataclass
class Rendered:
    objects: list[dict]

    def of_kind(self, kind: str) -> list[dict]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> dict:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name!r}, found {len(found)}"
        return found[0]

    def config_map(self, prefix: str) -> dict:
        """A generated ConfigMap by its base name (kustomize appends -<hash>)."""
        found = [o for o in self.of_kind("ConfigMap")
                 if re.fullmatch(rf"{re.escape(prefix)}(-[a-z0-9]+)?", o["metadata"]["name"])]
        assert len(found) == 1, f"expected one ConfigMap {prefix}-*, found {len(found)}"
        return found[0]

    def workloads(self) -> list[dict]:
        return self.of_kind("Deployment") + self.of_kind("StatefulSet")


def container(workload: dict) -> dict:
    """The workload's one container (segmentdb runs one process per pod)."""
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"{workload['metadata']['name']}: one container per pod"
    return containers[0]


def env_value(container_spec: dict, name: str) -> str | None:
    for item in container_spec.get("env", []):
        if item["name"] == name:
            return item.get("value")
    return None


_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_QUANTITY_FACTORS = {None: 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
                     "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def quantity_bytes(text: str | int) -> int:
    """Bytes of a Kubernetes memory quantity (`512Mi`, `8Gi`, `1G`, `1048576`)."""
    match = _QUANTITY.match(str(text))
    if not match:
        raise ValueError(f"not a memory quantity: {text!r}")
    return int(float(match.group(1)) * _QUANTITY_FACTORS[match.group(2)])
