"""Where the values of spec.target.headers come from at run time.

A header's value is never written anywhere by loadgate (not into loadtest.json, the ConfigMap,
logs or the status): the manifest holds only where to find it.

  value: "..."                             the literal (it is in your manifest, so no secrets)
  valueFrom: {env: OPENAI_API_KEY}         that environment variable of the Locust processes
  valueFrom: {secretKeyRef: {name, key}}   a Secret's key. On a cluster the operator injects it
                                           into the Locust pods as LOADGATE_HEADER_<NAME>
                                           (secret_env_var); `loadgate run` reads that same
                                           variable, so export it for a local run.

Standard library only: every Locust process resolves its headers on start.
"""

from __future__ import annotations

import os
import re

from loadgate.spec.model import Header

SECRET_ENV_PREFIX = "LOADGATE_HEADER_"


class HeaderError(ValueError):
    """Header values that cannot be found; str(e) names each header and where it looked."""


def secret_env_var(name: str) -> str:
    """The environment variable a secretKeyRef header's value is read from:
    Authorization -> LOADGATE_HEADER_AUTHORIZATION, X-Api-Key -> LOADGATE_HEADER_X_API_KEY."""
    return SECRET_ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", name.upper())


def source(header: Header) -> str:
    """Where the value comes from, in words (for messages; never the value itself)."""
    if header.value is not None:
        return "its literal value"
    if header.env is not None:
        return f"environment variable {header.env}"
    return (f"Secret {header.secret_name!r} key {header.secret_key!r} (environment variable "
            f"{secret_env_var(header.name)})")


def resolve_headers(headers: tuple[Header, ...], environ=None) -> dict[str, str]:
    """{name: value} for every header; HeaderError naming every one whose variable is unset."""
    env = os.environ if environ is None else environ
    out, missing = {}, []
    for h in headers:
        if h.value is not None:
            out[h.name] = h.value
            continue
        var = h.env if h.env is not None else secret_env_var(h.name)
        value = env.get(var)
        if value is None or value == "":
            missing.append(f"header {h.name}: {source(h)} is not set")
        else:
            out[h.name] = value
    if missing:
        raise HeaderError("; ".join(missing))
    return out
