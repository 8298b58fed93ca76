"""Render examples/argocd/argocd-cm-health.yaml from the Lua health check (one source of truth).

    .venv/bin/python tests/examples/argocd_cm.py      # rewrite the snippet after editing the .lua
"""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "argocd"
LUA = EXAMPLES / "loadtest-health.lua"
SNIPPET = EXAMPLES / "argocd-cm-health.yaml"
KEY = "resource.customizations.health.loadgate.dev_LoadTest"

HEADER = """\
# Argo CD health check for loadgate.dev/LoadTest, generated from loadtest-health.lua
# (tests/examples/argocd_cm.py; a test fails if the two differ). Merge it into argocd-cm:
#   kubectl -n argocd patch configmap argocd-cm --type merge --patch-file examples/argocd/argocd-cm-health.yaml
# or put the data key into the argo-cd Helm chart's configs.cm values.
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels:
    app.kubernetes.io/name: argocd-cm
    app.kubernetes.io/part-of: argocd
data:
"""


def render(lua_source: str) -> str:
    body = "".join(("    " + line if line.strip() else "") + "\n"
                   for line in lua_source.rstrip("\n").split("\n"))
    return f"{HEADER}  {KEY}: |\n{body}"


if __name__ == "__main__":
    SNIPPET.write_text(render(LUA.read_text()))
    print(f"wrote {SNIPPET}")
