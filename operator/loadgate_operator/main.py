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


def main(args) -> int:
    import kopf

    import loadgate_operator.handlers  # noqa: F401  (registers the handlers)

    opts = kopf_options(args)
    kopf.configure(verbose=bool(args.verbose))
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    asyncio.run(kopf.operator(**opts))
    return 0
