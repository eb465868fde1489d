"""Command-line interface: ``smoulder <command> ...``.

Each command lives in its own module and registers an argparse sub-parser;
:func:`main` follows the nibabel convention ``main(args=None) -> int``.
"""

from __future__ import annotations

import argparse
import os
import sys

from smoulder import __version__
from smoulder.exceptions import SmoulderError

#: commands whose module registers them alone and imports nothing heavy: ``smoulder <cmd> ...``
#: builds only that module's parser, so its help and argument errors answer at once
_LEAN = {
    "progression": "progression",
    "composite": "composite",
    "milestone": "composite",
    "demo": "demo",
    "spms": "spms",
    "neda": "neda",
    "multiverse": "multiverse",
}


def build_parser(args: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command (or, when ``args`` start with a lean command, of that one)."""
    parser = argparse.ArgumentParser(
        prog="smoulder",
        description="Find and follow smouldering multiple sclerosis.",
    )
    parser.add_argument("--version", action="version", version=f"smoulder {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    if args and args[0] in _LEAN:
        import importlib

        importlib.import_module(f"smoulder.cli.{_LEAN[args[0]]}").register(sub)
        return parser
    from smoulder.cli import (
        bids,
        composite,
        demo,
        digital,
        interop,
        lesions,
        mri_activity,
        multiverse,
        neda,
        prl,
        progression,
        sel,
        serve,
        spms,
    )

    progression.register(sub)
    composite.register(sub)
    demo.register(sub)
    prl.register(sub)
    lesions.register(sub)
    mri_activity.register(sub)
    sel.register(sub)
    bids.register(sub)
    digital.register(sub)
    serve.register(sub)
    interop.register(sub)
    spms.register(sub)
    neda.register(sub)
    multiverse.register(sub)
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
    "pydantic_settings": "web",
    "httpx": "web",
}


def main(args: list[str] | None = None) -> int:
    """Run the command line; return the process exit code.

    0: done; 2: bad input, bad settings or a file that cannot be read or written (one line on
    stderr naming the file and what was expected); 1: an internal error (one line asking for a
    report; the traceback only with ``SMOULDER_DEBUG=1``); 130: interrupted.
    """
    argv = sys.argv[1:] if args is None else list(args)
    parser = build_parser(argv)
    ns = parser.parse_args(argv)
    if not getattr(ns, "func", None):
        parser.print_help()
        return 2
    cmd = _command_name(ns)
    try:
        return int(ns.func(ns) or 0)
    except SmoulderError as exc:
        print(f"smoulder {cmd}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        extra = _EXTRAS.get(top)
        if extra is None:
            return _internal(cmd, exc)
        print(
            f"smoulder {cmd}: error: this command needs the '{extra}' extra "
            f"(missing package '{top}'); install it with: pip install 'smoulder[{extra}]'",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        print(f"smoulder {cmd}: interrupted; nothing was written", file=sys.stderr)
        return 130
    except OSError as exc:
        if _debug():
            raise
        print(f"smoulder {cmd}: error: {_os_message(exc)}", file=sys.stderr)
        return 2
    except MemoryError:
        if _debug():
            raise
        print(
            f"smoulder {cmd}: error: not enough memory for this input; nothing was written",
            file=sys.stderr,
        )
        return 1
    except Exception as exc:  # the last resort: never a traceback for the user
        return _internal(cmd, exc)


def _command_name(ns: argparse.Namespace) -> str:
    parts = [ns.command]
    for attr in ("digital_command", "import_kind", "export_kind", "prl_command", "sel_command"):
        v = getattr(ns, attr, None)
        if isinstance(v, str):
            parts.append(v)
    return " ".join(p for p in parts if p)


def _debug() -> bool:
    return os.environ.get("SMOULDER_DEBUG", "") not in ("", "0")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split("\n")).strip() or type(exc).__name__


def _os_message(exc: OSError) -> str:
    import errno

    what = exc.strerror or str(exc)
    hint = {
        errno.ENOSPC: "; free some space or write elsewhere",
        errno.EACCES: "; check the file's permissions",
        errno.EPERM: "; check the file's permissions",
        errno.EROFS: "; write to another folder",
        errno.ENOENT: "; check the path",
        errno.EISDIR: "; give a file, not a folder",
    }.get(exc.errno or -1, "")
    name = exc.filename
    if name is not None:
        return f"{name}: {what}{hint}; nothing was written"
    return f"{what}{hint}; nothing was written"


def _internal(cmd: str, exc: BaseException) -> int:
    if _debug():
        raise exc
    msg = _one_line(exc)
    if len(msg) > 300:
        msg = msg[:300] + "..."
    print(
        f"smoulder {cmd}: internal error: {type(exc).__name__}: {msg}; please report it "
        "(run again with SMOULDER_DEBUG=1 for the details)",
        file=sys.stderr,
    )
    return 1


__all__ = ["main", "build_parser"]
