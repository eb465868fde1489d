"""Command-line interface: ``smoulder <command> ...``.

Each command lives in its own module and registers an argparse sub-parser;
:func:`main` follows the nibabel convention ``main(args=None) -> int``.
"""

from __future__ import annotations

import argparse
import sys

from smoulder import __version__
from smoulder.exceptions import SmoulderError


def build_parser() -> argparse.ArgumentParser:
    from smoulder.cli import bids, composite, demo, digital, lesions, prl, progression, sel, serve

    parser = argparse.ArgumentParser(
        prog="smoulder",
        description="Find and follow smouldering multiple sclerosis.",
    )
    parser.add_argument("--version", action="version", version=f"smoulder {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    progression.register(sub)
    composite.register(sub)
    demo.register(sub)
    prl.register(sub)
    lesions.register(sub)
    sel.register(sub)
    bids.register(sub)
    digital.register(sub)
    serve.register(sub)
    return parser


# optional packages and the extra that brings each of them
_EXTRAS = {
    "nibabel": "imaging",
    "ants": "imaging",
    "nilearn": "imaging",
    "bids": "imaging",
    "skimage": "imaging",
    "sklearn": "imaging",
    "scipy": "imaging",
    "joblib": "imaging",
    "dask": "imaging",
    "distributed": "imaging",
    "fhir": "digital",
    "fastapi": "web",
    "starlette": "web",
    "uvicorn": "web",
    "sqlalchemy": "web",
    "alembic": "web",
    "jinja2": "web",
    "argon2": "web",
    "plotly": "web",
    "psycopg": "web",
    "multipart": "web",
    "itsdangerous": "web",
    "httpx": "web",
}


def main(args: list[str] | None = None) -> int:
    """Run the command line; return the process exit code (0 ok, 2 bad input or settings)."""
    parser = build_parser()
    ns = parser.parse_args(args)
    if not getattr(ns, "func", None):
        parser.print_help()
        return 2
    try:
        return int(ns.func(ns) or 0)
    except SmoulderError as exc:
        print(f"smoulder {ns.command}: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        extra = _EXTRAS.get(top)
        if extra is None:
            raise
        print(
            f"smoulder {ns.command}: error: this command needs the '{extra}' extra "
            f"(missing package '{top}'); install it with: pip install 'smoulder[{extra}]'",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        return 130


__all__ = ["main", "build_parser"]
