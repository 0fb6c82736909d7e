#!/usr/bin/env python3
"""Renders or lints the chart with Helm's own Go SDK (PyPI helm-python-sdk; no helm binary).

  render.py render CHART VALUES_JSON [NAMESPACE]  -> {"manifests": {path: yaml}} on stdout
  render.py lint CHART VALUES_JSON                -> the lint report
  render.py validate CHART VALUES_JSON            -> {"ok": true} or {"error": "..."}
  render.py install|upgrade CHART VALUES_JSON NAMESPACE KUBECONFIG  -> the release (status, revision)
  render.py uninstall - {} NAMESPACE KUBECONFIG                      -> {"ok": true}
Exit 2 with {"error": "..."} when Helm refuses the values or a template fails.
"""
import json
import sys

import helm_python as helm


def main() -> int:
    verb, chart_path, values_json = sys.argv[1], sys.argv[2], sys.argv[3]
    values = json.loads(values_json)
    try:
        if verb == "lint":
            print(json.dumps(helm.lint(chart_path, values, strict=True, namespace="peerpull-system", kube_version="v1.20.2")))
            return 0
        if verb in ("install", "upgrade", "uninstall"):
            namespace, kubeconfig = sys.argv[4], sys.argv[5]
            config = helm.Config(kubeconfig_path=kubeconfig, namespace=namespace)
            if verb == "uninstall":
                config.uninstall("p2p", timeout=60)
                print(json.dumps({"ok": True}))
                return 0
            chart = helm.Chart.load(chart_path)
            action = config.install if verb == "install" else config.upgrade
            release = action(chart, "p2p", values, namespace=namespace, timeout=60)
            print(json.dumps({"release": {k: release.get(k) for k in ("name", "namespace", "version", "info") if k in release}}, default=str))
            return 0
        chart = helm.Chart.load(chart_path)
        if verb == "validate":
            chart.validate_schema(chart.merge_values(values))
            print(json.dumps({"ok": True}))
            return 0
        namespace = sys.argv[4] if len(sys.argv) > 4 else "peerpull-system"
        chart.validate_schema(chart.merge_values(values))
        manifests = chart.render(values, name="p2p", namespace=namespace, is_install=True)
        print(json.dumps({"manifests": manifests}))
        return 0
    except helm.HelmError as error:
        print(json.dumps({"error": str(error)}))
        return 2


if __name__ == "__main__":
    sys.exit(main())
