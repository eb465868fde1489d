"""Compile or interpret: numba functions run as plain Python on small inputs the first time.

Compiling smoulder's scan takes 15-45 s on a new machine (numba types every specialisation once,
then caches it on disk). A clinic's cohort of a few hundred people is scanned interpreted in well
under a second, so waiting for the compiler there makes the first run the slowest by far. The
rule here: a numba function that is neither compiled in this process nor in numba's cache on
disk runs as its plain Python twin when its input has at most :func:`interpret_limit` rows;
larger inputs compile as before (and every later run uses the cache). Both run the same source,
so their results are the same; ``tests/clinical/test_interpreted_scan.py`` checks that.

``SMOULDER_INTERPRET_MAX_ROWS`` moves the limit (``0``: always compile).
"""

from __future__ import annotations

import os
import types
from collections.abc import Callable
from typing import Any

#: rows (visits) up to which an uncompiled numba function runs interpreted
INTERPRET_MAX_ROWS = 200_000

_ENV = "SMOULDER_INTERPRET_MAX_ROWS"


def interpret_limit(default: int = INTERPRET_MAX_ROWS) -> int:
    """Rows up to which an uncompiled function runs interpreted (``SMOULDER_INTERPRET_MAX_ROWS``
    overrides ``default``; a value that is not a whole number is ignored)."""
    raw = os.environ.get(_ENV, "").strip()
    if not raw:
        return default
    try:
        return max(0, int(raw))
    except ValueError:
        return default


def _is_dispatcher(fn: Any) -> bool:
    return hasattr(fn, "py_func") and hasattr(fn, "signatures")


#: whether numba's cache on disk held a compilation, per dispatcher (read once a process)
_ON_DISK: dict[int, bool] = {}


def is_compiled(dispatcher: Any) -> bool:
    """Whether calling ``dispatcher`` would not start the compiler: it is compiled in this
    process, or numba's cache on disk held a compilation of it when first asked. True when in
    doubt (a private part of numba changed), so that the caller behaves as before; a function
    whose JIT is disabled (``NUMBA_DISABLE_JIT``) counts as compiled."""
    if not _is_dispatcher(dispatcher):
        return True
    if dispatcher.signatures:
        return True
    key = id(dispatcher)
    if key not in _ON_DISK:
        _ON_DISK[key] = _cached_on_disk(dispatcher)
    return _ON_DISK[key]


def _cached_on_disk(dispatcher: Any) -> bool:
    cache = getattr(dispatcher, "_cache", None)
    if type(cache).__name__ == "NullCache":  # not cached on disk: compiled only in a process
        return False
    try:  # numba's own index of cached compilations (emptied when the source changes)
        return bool(cache._cache_file._load_index())  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001 - a private API: when in doubt, compile
        return True


def interpreting(dispatcher: Any, rows: int, limit: int | None = None) -> bool:
    """Whether ``dispatcher`` should run interpreted on an input of ``rows`` rows."""
    cap = interpret_limit() if limit is None else interpret_limit(limit)
    return 0 < cap and rows <= cap and not is_compiled(dispatcher)


def for_rows(dispatcher: Any, rows: int, limit: int | None = None) -> Callable[..., Any]:
    """``dispatcher`` itself, or its plain Python function when the input is small and the
    function not yet compiled. For a function that calls no other numba function; for one that
    does, see :func:`twin`."""
    if interpreting(dispatcher, rows, limit):
        return dispatcher.py_func  # type: ignore[no-any-return]
    return dispatcher  # type: ignore[no-any-return]


def twin(*modules: types.ModuleType) -> dict[str, types.SimpleNamespace]:
    """Plain Python twins of every numba function defined in ``modules``.

    Each twin runs its function's own code with globals in which every numba function of these
    modules is replaced by its twin, and every reference to one of these modules by a namespace
    of twins, so that no call inside reaches the compiler. Returns one namespace per module name.
    A numba function defined elsewhere that one of them calls raises ``LookupError`` here (add
    its module), rather than compiling silently.
    """
    names = {m.__name__ for m in modules}
    spaces = {name: types.SimpleNamespace() for name in names}
    scopes: dict[str, dict[str, Any]] = {m.__name__: dict(vars(m)) for m in modules}
    made: dict[int, types.FunctionType] = {}
    for m in modules:
        for value in vars(m).values():
            if _is_dispatcher(value) and value.py_func.__module__ == m.__name__:
                f = value.py_func
                made[id(value)] = types.FunctionType(
                    f.__code__, scopes[m.__name__], f.__name__, f.__defaults__, f.__closure__
                )
    for name, scope in scopes.items():
        for key, value in list(scope.items()):
            if _is_dispatcher(value):
                if id(value) not in made:
                    raise LookupError(
                        f"{name}.{key} is a numba function of {value.py_func.__module__}, "
                        "which is not among the modules twinned"
                    )
                scope[key] = made[id(value)]
            elif isinstance(value, types.ModuleType) and value.__name__ in names:
                scope[key] = spaces[value.__name__]
        for key, value in scope.items():
            if not key.startswith("__"):
                setattr(spaces[name], key, value)
    return spaces


def start_compiler_without_blas() -> bool:
    """Start numba's CPU target now, without importing SciPy's BLAS (about 0.2 s of the start-up).

    Numba's first compiled call (even one loaded from its cache) loads its NumPy support, which
    imports ``scipy.linalg`` only to decide how a compiled ``np.dot`` of floats would multiply;
    smoulder's compiled functions never call it. With ``scipy.linalg`` not imported yet, this
    loads that support with the import refused, so a compiled float ``np.dot`` in this process
    would add up its products in a loop instead; ``scipy.linalg`` itself imports as usual
    afterwards. For a process that runs only smoulder's code (the command line) and will compile
    anyway (a large input). Returns whether the import was left out (False when numba was
    started already or ``scipy.linalg`` was imported before).
    """
    import sys

    from numba.core.registry import cpu_target

    if "scipy.linalg" in sys.modules or "numba.np.arraymath" in sys.modules:
        return False
    sys.modules["scipy.linalg"] = None  # type: ignore[assignment]  # refused by the importer
    try:
        cpu_target.target_context.refresh()
    finally:
        if sys.modules.get("scipy.linalg", 0) is None:
            del sys.modules["scipy.linalg"]
    return True
