#!/usr/bin/env bash
# Checks the Kubernetes manifests against the API schema, offline (PyPI's
# kubernetes-validate), with the placeholders filled the way the README fills them.
set -euo pipefail
cd "$(dirname "$0")/k8s"
command -v kubernetes-validate >/dev/null 2>&1 || python3 -m pip install -q kubernetes-validate
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in *.yaml; do
  sed -e 's/\${RUN_ID}/storm-20261129-213000/g' -e 's/\${START_AT}/2026-11-29T21:32:00Z/g' -e 's/\${TARGET_HOST}/login.staging.example/g' -e 's/\${TARGET_PORT}/8443/g' \
      -e 's#REGISTRY/stampede:TAG#registry.example/stampede:0.1.0#' "$f" > "$tmp/$f"
done
kubernetes-validate --strict "$tmp"/*.yaml
