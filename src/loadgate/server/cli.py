"""`loadgate serve`: the model server under uvicorn, settings from flags over LOADGATE_* env."""

from __future__ import annotations

import argparse
import sys

from loadgate.exit_codes import EXIT_CODES


def build_settings(args: argparse.Namespace):
    from .settings import load_settings

    overrides = {
        "backend": args.backend,
        "model_name": args.model,
        "max_batch_size": args.max_batch_size,
        "max_batch_wait_ms": args.max_batch_wait_ms,
    }
    # flags given on the command line win; the rest comes from env vars / defaults
    return load_settings(**{k: v for k, v in overrides.items() if v is not None})


def main(args: argparse.Namespace) -> int:
    import uvicorn

    from loadgate.runner.serve import ServeError, check_port_free

    from .settings import SettingsError

    try:
        settings = build_settings(args)
        # like a failed bind, but before the model starts loading
        check_port_free(args.host, args.port, "; stop it, or pass another --port")
    except SettingsError as e:
        print(f"loadgate serve: invalid settings:\n{e}", file=sys.stderr)
        return EXIT_CODES["Error"]
    except ServeError as e:
        print(f"loadgate serve: {e}", file=sys.stderr)
        return EXIT_CODES["Error"]
    from .app import create_app

    # one worker: a second process would load a second model onto the same cores
    uvicorn.run(create_app(settings), host=args.host, port=args.port,
                log_level=args.log_level.lower(), workers=1)
    return 0
