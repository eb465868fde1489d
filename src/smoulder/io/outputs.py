"""Outputs that never overwrite an input and never half-exist.

Every command that writes files declares its inputs and the outputs it plans, is refused before
any work when an output cannot or must not be written, and writes all of them to a hidden staging
folder beside their final place; only when everything has been written are the files renamed
into place (a rename within one file system is atomic). On any error, interrupt included, the
staging folder is removed and the final places are left as they were: no output, no partial set,
no overwritten input.

API
---
:class:`OutputPlan` collects the inputs and planned outputs of one command::

    from smoulder.io.outputs import TABLE_SUFFIXES, OutputPlan

    plan = OutputPlan(inputs={"visits": ns.visits, "--relapses": ns.relapses})  # None is skipped
    plan.add(ns.out, "--out", suffixes=TABLE_SUFFIXES)  # the file the user named
    plan.add(ns.out.with_name("events_summary.csv"), "--out")  # files derived from it
    plan.add_dir(ns.plots, "--plots")  # a folder the command fills (may be None)
    with plan.staged() as stage:  # all checks happen here, before any work
        ...  # read and compute
        result.write(stage.path(ns.out))  # same file name, inside the staging folder
        make_plots(stage.dir(ns.plots))  # a staging folder standing for --plots
    # here every staged file has been renamed into place

What :meth:`OutputPlan.staged` refuses (:class:`OutputError`, a :class:`SmoulderError`, so the
command line prints one line and exits 2), naming the flag and the path:

* an output that is, or resolves to, an input: the same path, a symbolic link to it, a hard link
  to it, or the same file under another letter case on a case-insensitive file system;
* two outputs that are the same file;
* an output that is an existing folder (or a folder output that is an existing file);
* an output whose folder, or one of its parents, is a file;
* an output in a folder that cannot be written (permission, read-only file system): the staging
  folder is created at this point, so this is a real test, not a guess from permission bits;
* a suffix that cannot be written (``--out e.xlsx``), with the accepted suffixes.

Files a writer creates in the staging folder that were not planned (a writer deriving more names
from ``--out``) are checked against the inputs again before anything is renamed. An
:class:`OSError` while writing (disk full, ...) is reported under the final file name, not the
staging name. A run killed with SIGKILL can leave a hidden ``.smoulder-partial-*`` folder; it is
never mistaken for output and may be deleted.

:func:`check_input_file` refuses a missing input, a folder given for a file, or an unreadable
file, naming the flag.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from smoulder.exceptions import InputDataError, SmoulderError

__all__ = [
    "TABLE_SUFFIXES",
    "JSON_SUFFIXES",
    "OutputError",
    "OutputPlan",
    "Staging",
    "check_input_file",
    "suffix_of",
]

#: suffixes :func:`smoulder.io.tables.write_table` writes (CSV, TSV, Parquet)
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")
JSON_SUFFIXES = (".json",)
_STAGE_PREFIX = ".smoulder-partial-"
_COMPOUND = (".csv.gz", ".tsv.gz", ".nii.gz", ".tar.gz")


class OutputError(SmoulderError):
    """An output path that must not or cannot be written; nothing was written."""


def suffix_of(path: str | os.PathLike[str]) -> str:
    """The lower-case suffix of a file name, compound ones (``.csv.gz``, ``.nii.gz``) included."""
    name = Path(path).name.lower()
    for s in _COMPOUND:
        if name.endswith(s):
            return s
    return Path(name).suffix


def _label(flag: str, path: Path) -> str:
    return f"{flag} {path}" if flag.startswith("-") else f"{path} ({flag})"


def check_input_file(
    path: str | os.PathLike[str], flag: str, *, expected: str = "an existing file"
) -> Path:
    """Refuse a missing, unreadable or folder input before any work; return it as a Path.

    Parameters
    ----------
    path : path-like
        The input the user named.
    flag : str
        The flag or argument name used in the message (``"--relapses"``, ``"visits"``).
    expected : str
        What the user should give, in their words.
    """
    p = Path(path)
    if p.is_dir():
        raise InputDataError(f"is a folder, not a file ({flag})", file=str(p), expected=expected)
    if not p.exists():
        raise InputDataError(f"file not found ({flag})", file=str(p), expected=expected)
    try:
        with open(p, "rb") as f:
            f.read(1)
    except OSError as exc:
        raise InputDataError(
            f"cannot read the file ({exc.strerror or exc})", file=str(p), expected=expected
        ) from None
    return p


@dataclass(frozen=True)
class _Planned:
    path: Path
    flag: str
    is_dir: bool


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _nearest_existing(p: Path) -> Path:
    q = p
    while not q.exists() and not q.is_symlink():
        if q.parent == q:
            break
        q = q.parent
    return q


class OutputPlan:
    """The inputs and planned outputs of one command (see the module docstring).

    Parameters
    ----------
    inputs : mapping of flag to path, or sequence of paths
        The files the command reads (``None`` values are skipped). A folder input (a BIDS
        dataset, an unzipped export) cannot be an output folder itself; outputs inside it are
        allowed (BIDS derivatives live there), so list the files in it that the command reads
        (a lesion mask, ...) as inputs of their own to protect them.
    """

    def __init__(
        self,
        inputs: Mapping[str, str | os.PathLike[str] | None]
        | Sequence[str | os.PathLike[str] | None] = (),
    ) -> None:
        items = inputs.items() if isinstance(inputs, Mapping) else (("input", p) for p in inputs)
        self.inputs: list[tuple[str, Path]] = [(k, Path(v)) for k, v in items if v is not None]
        self.outputs: list[_Planned] = []
        self._suffixes: dict[Path, tuple[str, tuple[str, ...]]] = {}

    def add(
        self,
        path: str | os.PathLike[str] | None,
        flag: str,
        *,
        suffixes: Sequence[str] | None = None,
    ) -> OutputPlan:
        """Plan an output file; ``suffixes`` (lower case, with the dot) limits what it may end in."""
        if path is None:
            return self
        p = Path(path)
        self.outputs.append(_Planned(p, flag, False))
        if suffixes is not None:
            self._suffixes[p] = (flag, tuple(suffixes))
        return self

    def add_dir(self, path: str | os.PathLike[str] | None, flag: str) -> OutputPlan:
        """Plan an output folder that the command fills (created if missing)."""
        if path is not None:
            self.outputs.append(_Planned(Path(path), flag, True))
        return self

    # ------------------------------------------------------------------ checks
    def _input_hit(self, target: Path) -> tuple[str, Path] | None:
        """The input that ``target`` is (or lies inside, for folder inputs), if any."""
        if not (target.exists() or target.is_symlink()):
            return None
        real = target.resolve()
        for flag, src in self.inputs:
            if src.is_dir():
                continue  # folders are protected as a whole (see check), not file by file
            if real == src.resolve() or _same_file(target, src):
                return flag, src
        return None

    def check(self) -> None:
        """Refuse the plan (:class:`OutputError`) before any work; see the module docstring."""
        for p, (flag, allowed) in self._suffixes.items():
            if p.is_dir():
                raise OutputError(
                    f"{_label(flag, p)}: is a folder; expected a file name (for example "
                    f"{p / ('out' + allowed[0])})"
                )
            suf = suffix_of(p)
            if suf not in allowed:
                raise OutputError(
                    f"{_label(flag, p)}: cannot write {suf or 'files without a suffix'!r} files; "
                    f"expected a name ending in {', '.join(allowed)}"
                )
        seen: dict[Path, _Planned] = {}
        for o in self.outputs:
            key = Path(os.path.abspath(o.path))
            key = key.parent.resolve() / key.name if key.parent.exists() else key
            other = seen.get(key)
            if other is not None and other.flag != o.flag:
                raise OutputError(
                    f"{_label(o.flag, o.path)}: the same file as {_label(other.flag, other.path)}"
                    "; give each output its own name"
                )
            seen[key] = o
            hit = self._input_hit(o.path)
            if hit is not None and not o.is_dir:
                raise OutputError(
                    f"{_label(o.flag, o.path)}: this would overwrite the input "
                    f"{_label(hit[0], hit[1])}; choose another output name"
                )
            if o.is_dir:
                if o.path.exists() and not o.path.is_dir():
                    raise OutputError(
                        f"{_label(o.flag, o.path)}: is a file, not a folder; expected a folder "
                        "(it is created if missing)"
                    )
                for flag, src in self.inputs:
                    if src.exists() and _same_file(o.path, src):
                        raise OutputError(
                            f"{_label(o.flag, o.path)}: is the input {_label(flag, src)}; "
                            "choose another output folder"
                        )
            elif o.path.is_dir():
                raise OutputError(
                    f"{_label(o.flag, o.path)}: is a folder; expected a file name (for example "
                    f"{o.path / 'out.csv'})"
                )
            folder = o.path if o.is_dir else o.path.parent
            anc = _nearest_existing(folder if str(folder) else Path("."))
            if anc.exists() and not anc.is_dir():
                raise OutputError(
                    f"{_label(o.flag, o.path)}: {anc} is a file, not a folder; expected an output "
                    "path inside a folder"
                )

    @contextmanager
    def staged(self) -> Iterator[Staging]:
        """Check the plan, create the staging folders, and rename everything into place at the end.

        Raises
        ------
        OutputError
            Before any work when the plan is refused; at the end when a written file would land on
            an input or a final name cannot be written (nothing is then left behind).
        """
        self.check()
        stage = Staging(self)
        try:
            stage._open()
            yield stage
            stage._commit()
        except OSError as exc:
            stage._discard()
            raise stage._translate(exc) from None
        except BaseException:
            stage._discard()
            raise


class Staging:
    """Staging folders of one :class:`OutputPlan`; see :meth:`path` and :meth:`dir`."""

    def __init__(self, plan: OutputPlan) -> None:
        self.plan = plan
        self._roots: list[Path] = []
        self._slots: dict[Path, Path] = {}  # final folder -> staging folder
        self._flags: dict[Path, str] = {}

    def _slot(self, final_dir: Path, flag: str) -> Path:
        final_dir = Path(os.path.abspath(final_dir))
        slot = self._slots.get(final_dir)
        if slot is not None:
            return slot
        anc = _nearest_existing(final_dir)
        try:
            root = Path(tempfile.mkdtemp(prefix=_STAGE_PREFIX, dir=anc))
        except OSError as exc:
            raise OutputError(
                f"{flag}: cannot write in the folder {anc} ({exc.strerror or exc}); expected a "
                "folder you can write to"
            ) from None
        self._roots.append(root)
        slot = root / "out"
        slot.mkdir()
        self._slots[final_dir] = slot
        self._flags[slot] = flag
        return slot

    def _open(self) -> None:
        for o in self.plan.outputs:
            self._slot(o.path if o.is_dir else o.path.parent, o.flag)

    def path(self, final: str | os.PathLike[str]) -> Path:
        """Where to write the planned file ``final`` now (same name, in its staging folder)."""
        p = Path(final)
        return self._slot(p.parent, "--out") / p.name

    def dir(self, final_dir: str | os.PathLike[str]) -> Path:
        """A staging folder whose contents become the planned folder ``final_dir``."""
        return self._slot(Path(final_dir), "--out")

    # ------------------------------------------------------------------ commit
    def _moves(self) -> list[tuple[Path, Path, str]]:
        moves = []
        for final_dir, slot in self._slots.items():
            for dirpath, _dirs, files in os.walk(slot):
                for f in sorted(files):
                    src = Path(dirpath) / f
                    moves.append((src, final_dir / src.relative_to(slot), self._flags[slot]))
        return moves

    def _commit(self) -> None:
        moves = self._moves()
        for _src, dst, flag in moves:
            hit = self.plan._input_hit(dst)
            if hit is not None:
                raise OutputError(
                    f"{flag}: writing {dst} would overwrite the input {_label(hit[0], hit[1])}; "
                    "nothing was written; choose another output name or folder"
                )
            if dst.is_dir():
                raise OutputError(f"{flag}: {dst} is a folder; nothing was written")
        created: list[Path] = []
        placed: list[tuple[Path, Path, Path | None]] = []
        backup_root = self._roots[0] if self._roots else None
        try:
            for src, dst, _flag in moves:
                missing = []
                q = dst.parent
                while not q.exists():
                    missing.append(q)
                    q = q.parent
                for d in reversed(missing):
                    d.mkdir()
                    created.append(d)
                backup = None
                if dst.exists() or dst.is_symlink():
                    assert backup_root is not None
                    backup = backup_root / f"backup-{len(placed)}"
                    os.replace(dst, backup)
                try:
                    os.replace(src, dst)
                except OSError:
                    if backup is not None:
                        os.replace(backup, dst)
                    raise
                placed.append((src, dst, backup))
        except BaseException:
            for src, dst, backup in reversed(placed):
                try:
                    os.replace(dst, src)
                    if backup is not None:
                        os.replace(backup, dst)
                except OSError:  # pragma: no cover - best effort
                    pass
            for d in reversed(created):
                try:
                    d.rmdir()
                except OSError:  # pragma: no cover
                    pass
            raise
        self._discard()

    def _discard(self) -> None:
        for root in self._roots:
            shutil.rmtree(root, ignore_errors=True)
        self._roots.clear()

    def _translate(self, exc: OSError) -> Exception:
        """An OSError while writing, named by the final file rather than the staging name."""
        if isinstance(exc, SmoulderError):  # pragma: no cover
            return exc
        name = exc.filename
        if name is None:
            return exc
        p = Path(os.path.abspath(name))
        for final_dir, slot in self._slots.items():
            if p.is_relative_to(slot):
                final = final_dir / p.relative_to(slot)
                return OutputError(
                    f"cannot write {final}: {exc.strerror or exc}; nothing was written"
                )
        return exc
