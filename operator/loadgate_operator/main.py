"""`loadgate operator`: the same as `kopf run -m loadgate_operator [--namespace NS]...`."""

from __future__ import annotations

import asyncio
import logging


def kopf_options(args) -> dict:
    """kopf.run/kopf.operator keyword arguments from the CLI arguments."""
    namespaces = list(args.namespace or [])
    if namespaces and args.all_namespaces:
        raise SystemExit("loadgate operator: use --namespace or --all-namespaces, not both")
    opts = {"standalone": True, "liveness_endpoint": args.liveness or None}
    if namespaces:
        opts["namespaces"] = namespaces
    else:
        opts["clusterwide"] = True
    return opts


def startup_problem() -> str | None:
    """Why the operator cannot start (one sentence), before kopf would retry it forever with a
    traceback a minute: no Kubernetes configuration. (A bad LOADGATE_* setting already stopped
    it on import: settings.settings_or_exit.)"""
    from loadgate_operator import kube

    try:
        kube.load_config()
    except Exception as e:  # kubernetes' ConfigException, or an unreadable file
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return (f"no Kubernetes configuration ({first}): run it in a cluster, or point "
                "KUBECONFIG (default ~/.kube/config) at a cluster")
    return None


def main(args) -> int:
    import sys

    from loadgate.exit_codes import ERROR

    problem = startup_problem()
    if problem:
        print(f"loadgate operator: {problem}", file=sys.stderr)
        return ERROR

    import kopf

    import loadgate_operator.handlers  # noqa: F401  (registers the handlers)

    opts = kopf_options(args)
    kopf.configure(verbose=bool(args.verbose))
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    asyncio.run(kopf.operator(**opts))
    return 0
