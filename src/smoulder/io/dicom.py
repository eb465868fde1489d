"""DICOM in, NIfTI + JSON sidecar out, through dcm2niix.

Wherever smoulder accepts a NIfTI file it also accepts a DICOM folder (or a single enhanced
DICOM file): :func:`resolve_image` converts it with dcm2niix (the PyPI package ``dcm2niix``
ships the binary; one on ``PATH`` works too), keeps dcm2niix's BIDS sidecar (anonymised:
``-ba y`` strips names and dates) and picks the series asked for. A folder holding several
candidate series is refused with the list of them (series number, description, image type,
echo time) and the flag that chooses one. :func:`raw_phase_parameters` reads the echo time,
field strength and phase encoding from the sidecar so that the user need not type them.

This module reads files only; it imports no engine.

Sidecar fields used
-------------------
``EchoTime`` (s; ms when above 1), ``MagneticFieldStrength`` (T), ``ImageType`` (``P`` /
``PHASE``, ``M`` / ``MAGNITUDE``, ``SWI``, ``MNIP``, ``REAL``, ``IMAGINARY``),
``Manufacturer``, ``SeriesNumber``, ``SeriesDescription``, ``EchoNumber``,
``ImageOrientationPatientDICOM`` (acquisition plane and obliquity).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smoulder.exceptions import InputDataError, SmoulderError

NIFTI_SUFFIXES = (".nii", ".nii.gz")

#: Image kinds named by the DICOM ImageType values (checked in this order).
_KINDS = (
    ("phase", {"P", "PHASE"}),
    ("swi", {"SWI", "MNIP", "MIP", "MINIP"}),
    ("real", {"R", "REAL"}),
    ("imaginary", {"I", "IMAGINARY"}),
    ("magnitude", {"M", "MAGNITUDE"}),
)


class Dcm2niixError(SmoulderError):
    """dcm2niix is missing, or failed on the input."""


def find_dcm2niix() -> str:
    """Path of the dcm2niix binary: the PyPI package's, else one on ``PATH``."""
    try:
        import dcm2niix  # the PyPI package ships the binary

        path = Path(dcm2niix.bin)
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    except ImportError:
        pass
    found = shutil.which("dcm2niix")
    if found:
        return found
    raise Dcm2niixError(
        "DICOM input needs dcm2niix, which is not installed: install smoulder's imaging extra "
        "(pip install 'smoulder[imaging]', which brings the PyPI package dcm2niix) or put "
        "dcm2niix on PATH; or convert the DICOM series to NIfTI yourself and give the .nii.gz"
    )


def is_dicom_file(path: str | Path) -> bool:
    """Whether ``path`` is a DICOM Part 10 file (``DICM`` at byte 128)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _first_dicom(folder: Path, max_files: int = 2000, max_depth: int = 5) -> Path | None:
    seen = 0
    base_depth = len(folder.parts)
    for root, dirs, files in os.walk(folder):
        if len(Path(root).parts) - base_depth >= max_depth:
            dirs[:] = []
        for name in sorted(files):
            seen += 1
            if is_dicom_file(Path(root) / name):
                return Path(root) / name
            if seen >= max_files:
                return None
    return None


def image_kind(image_type: Any) -> str:
    """``phase``, ``swi``, ``real``, ``imaginary``, ``magnitude`` or ``other`` from ImageType."""
    if isinstance(image_type, str):
        values = {v.strip().upper() for v in image_type.replace("\\", ",").split(",")}
    elif isinstance(image_type, Sequence):
        values = {str(v).strip().upper() for v in image_type}
    else:
        return "other"
    for kind, names in _KINDS:
        if values & names:
            return kind
    return "other"


@dataclass(frozen=True)
class DicomSeries:
    """One NIfTI file written by dcm2niix and its sidecar."""

    nifti: Path
    sidecar_path: Path | None
    sidecar: Mapping[str, Any]

    @property
    def series_number(self) -> int | None:
        v = self.sidecar.get("SeriesNumber")
        return int(v) if isinstance(v, (int, float)) else None

    @property
    def description(self) -> str:
        return str(self.sidecar.get("SeriesDescription") or self.sidecar.get("ProtocolName") or "")

    @property
    def kind(self) -> str:
        return image_kind(self.sidecar.get("ImageType"))

    @property
    def echo_time_ms(self) -> float | None:
        return echo_time_ms(self.sidecar)

    def label(self) -> str:
        """``series 5 'swi_phase' (phase, TE 20 ms)``, for messages."""
        num = f"series {self.series_number}" if self.series_number is not None else "a series"
        te = self.echo_time_ms
        te_s = f", TE {te:g} ms" if te is not None else ""
        echo = self.sidecar.get("EchoNumber")
        echo_s = f", echo {echo}" if echo not in (None, 1) else ""
        return f"{num} '{self.description}' ({self.kind}{te_s}{echo_s}; {self.nifti.name})"


def echo_time_ms(sidecar: Mapping[str, Any]) -> float | None:
    """Echo time in ms from a sidecar's ``EchoTime`` (BIDS: seconds; above 1 taken as ms)."""
    v = sidecar.get("EchoTime")
    if not isinstance(v, (int, float)) or v <= 0:
        return None
    return float(v) if v > 1.0 else float(v) * 1000.0


def read_sidecar(nifti: str | Path) -> dict[str, Any] | None:
    """The JSON sidecar beside a NIfTI file (``x.nii.gz`` -> ``x.json``), or ``None``."""
    p = Path(nifti)
    name = p.name
    for suf in NIFTI_SUFFIXES[::-1]:
        if name.endswith(suf):
            name = name[: -len(suf)]
            break
    js = p.with_name(name + ".json")
    if not js.is_file():
        return None
    try:
        data = json.loads(js.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputDataError(
            f"the JSON sidecar cannot be read: {exc}", file=str(js), expected="valid JSON"
        ) from None
    if not isinstance(data, dict):
        raise InputDataError("the JSON sidecar is not an object", file=str(js))
    return data


def convert_dicom(
    source: str | Path, out_dir: str | Path, *, timeout_s: float = 900.0
) -> list[DicomSeries]:
    """Convert every series of a DICOM folder (or one DICOM file) with dcm2niix.

    Files are written to a new folder inside ``out_dir`` (never over anything there), named
    ``series<number>`` plus dcm2niix's suffixes (``_ph`` for phase, ``_e2`` for echo 2...),
    gzipped, each with its anonymised BIDS sidecar.

    Raises
    ------
    InputDataError
        ``source`` does not exist or holds no DICOM file.
    Dcm2niixError
        dcm2niix is missing, fails, times out, or writes nothing.
    """
    src = Path(source)
    if not src.exists():
        raise InputDataError("not found", file=str(src), expected="a DICOM folder or a NIfTI file")
    single = src.is_file()
    if single and not is_dicom_file(src):
        raise InputDataError(
            "is not a DICOM file", file=str(src), expected="a DICOM folder or a NIfTI file"
        )
    if not single and _first_dicom(src) is None:
        raise InputDataError(
            "holds no DICOM files (none starts with the DICM marker)",
            file=str(src),
            expected="a folder of DICOM files (the exported series), or a NIfTI file",
        )
    exe = find_dcm2niix()
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="dcm2niix-", dir=out_dir))
    cmd = [exe, "-g", "i", "-b", "y", "-ba", "y", "-z", "i", "-f", "series%s", "-w", "2"]
    if single:
        cmd += ["-s", "y"]
    cmd += ["-o", str(work), str(src)]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise Dcm2niixError(
            f"dcm2niix did not finish converting {src} within {timeout_s:g} s"
        ) from None
    except OSError as exc:
        raise Dcm2niixError(f"dcm2niix could not be started ({exc})") from None
    niftis = sorted(work.glob("*.nii.gz")) + sorted(work.glob("*.nii"))
    if run.returncode != 0 or not niftis:
        tail = "\n".join((run.stdout + run.stderr).strip().splitlines()[-6:])
        said = (run.stdout + run.stderr).lower()
        if not niftis and ("no valid dicom" in said or "unable to find any dicom" in said):
            raise InputDataError(
                "holds no DICOM images that dcm2niix can convert",
                file=str(src),
                expected="a folder of DICOM image files",
            )
        raise Dcm2niixError(
            f"dcm2niix failed on {src} (exit code {run.returncode}); its last messages:\n{tail}"
        )
    out = []
    for nii in niftis:
        side = read_sidecar(nii)
        name = nii.name[: -len(".nii.gz")] if nii.name.endswith(".nii.gz") else nii.stem
        out.append(DicomSeries(nii, nii.with_name(name + ".json") if side else None, side or {}))
    return out


def _listing(series: Sequence[DicomSeries]) -> str:
    return "; ".join(s.label() for s in series)


def select_series(
    series: Sequence[DicomSeries],
    kind: str | None = None,
    *,
    series_number: int | None = None,
    source: str = "the DICOM input",
    flag: str | None = "--series",
) -> DicomSeries:
    """The one series of ``kind`` (``phase``, ``magnitude``...), or a clear refusal.

    ``flag`` names the option that chooses a series number (``None``: there is none, and the
    refusal asks for the series' own folder).

    ``series_number`` chooses among several. With ``kind="phase"`` and only magnitude or SWI
    series present, the refusal says that rims need the phase.
    """
    cands = list(series)
    if series_number is not None:
        cands = [s for s in cands if s.series_number == series_number]
        if not cands:
            raise InputDataError(
                f"has no series {series_number}; it holds: {_listing(series)}",
                file=source,
                expected=f"one of the series numbers listed ({flag})",
            )
    if kind is not None:
        of_kind = [s for s in cands if s.kind == kind]
        if not of_kind:
            if kind == "phase" and any(s.kind in ("magnitude", "swi") for s in cands):
                raise InputDataError(
                    "holds magnitude/SWI images but no phase series: "
                    f"{_listing(cands)}. Rim lesions need the phase: export the phase series "
                    "(ImageType P) as well, or give a QSM map",
                    file=source,
                    expected="a DICOM folder with the phase series",
                )
            raise InputDataError(
                f"holds no {kind} series; it holds: {_listing(cands)}",
                file=source,
                expected=f"a DICOM folder with a {kind} series",
            )
        cands = of_kind
    if len(cands) > 1:
        choose = (
            f"Choose one with {flag} NUMBER (the series number), or give that series' own folder"
            if flag
            else "Give that series' own folder (or convert it to NIfTI)"
        )
        raise InputDataError(
            f"holds several {kind or 'image'} series, so which one to use is unclear: "
            f"{_listing(cands)}. {choose}",
            file=source,
            expected=f"one {kind or 'image'} series",
        )
    return cands[0]


def matching_magnitude(series: Sequence[DicomSeries], phase: DicomSeries) -> DicomSeries | None:
    """The magnitude series recorded with ``phase`` (same echo time and matrix), if any.

    Several candidates: the one whose series number is nearest (scanners number the
    magnitude and phase of one acquisition consecutively).
    """
    import nibabel as nib

    def shape_of(path: Path) -> tuple[int, ...]:
        img: Any = nib.load(str(path))
        return tuple(img.shape[:3])

    shape = shape_of(phase.nifti)
    te = phase.echo_time_ms
    cands = []
    for s in series:
        if s.kind != "magnitude":
            continue
        if te is not None and s.echo_time_ms is not None and abs(s.echo_time_ms - te) > 0.01:
            continue
        if shape_of(s.nifti) != shape:
            continue
        cands.append(s)
    if not cands:
        return None
    ref = phase.series_number if phase.series_number is not None else 0
    return min(cands, key=lambda s: abs((s.series_number or 0) - ref))


def resolve_image(
    path: str | Path,
    work_dir: str | Path,
    *,
    kind: str | None = None,
    series_number: int | None = None,
    flag: str = "--series",
) -> DicomSeries:
    """A NIfTI file as is, or a DICOM folder/file converted: the image to read and its sidecar.

    Parameters
    ----------
    path : path
        ``.nii`` / ``.nii.gz`` (its ``.json`` sidecar is read when present), a DICOM folder,
        or a single DICOM file.
    work_dir : path
        Where converted files go (a new sub-folder is made; the caller removes it).
    kind, series_number, flag
        Passed to :func:`select_series` for DICOM input.
    """
    p = Path(path)
    if p.is_file() and p.name.endswith(NIFTI_SUFFIXES):
        return DicomSeries(p, None, read_sidecar(p) or {})
    if p.is_dir() or (p.is_file() and is_dicom_file(p)):
        conv = convert_dicom(p, work_dir)
        return select_series(conv, kind, series_number=series_number, source=str(p), flag=flag)
    if not p.exists():
        raise InputDataError("not found", file=str(p), expected="a NIfTI file or a DICOM folder")
    raise InputDataError(
        "is neither a NIfTI file (.nii, .nii.gz) nor DICOM",
        file=str(p),
        expected="a NIfTI file or a DICOM folder",
    )


def resolve_phase_and_magnitude(
    phase: str | Path,
    work_dir: str | Path,
    *,
    magnitude: str | Path | None = None,
    phase_series: int | None = None,
    magnitude_series: int | None = None,
) -> tuple[DicomSeries, DicomSeries | None]:
    """The raw phase image and its magnitude, from NIfTI files or DICOM (converted once).

    Without ``magnitude``, a DICOM ``phase`` folder's own magnitude series of the same echo is
    used when there is one (:func:`matching_magnitude`); a NIfTI phase then has none. The
    refusals name the flags ``--phase-series`` and ``--magnitude-series``.
    """
    p = Path(phase)
    if p.is_dir() or (p.is_file() and is_dicom_file(p)):
        conv = convert_dicom(p, work_dir)
        ph = select_series(
            conv, "phase", series_number=phase_series, source=str(p), flag="--phase-series"
        )
        if magnitude is None:
            if magnitude_series is not None:
                mag = select_series(
                    conv,
                    "magnitude",
                    series_number=magnitude_series,
                    source=str(p),
                    flag="--magnitude-series",
                )
                return ph, mag
            return ph, matching_magnitude(conv, ph)
    else:
        ph = resolve_image(p, work_dir, kind="phase", flag="--phase-series")
    if magnitude is None:
        return ph, None
    mag = resolve_image(
        magnitude,
        work_dir,
        kind="magnitude",
        series_number=magnitude_series,
        flag="--magnitude-series",
    )
    return ph, mag


def raw_phase_parameters(
    sidecar: Mapping[str, Any], *, source: str = "the JSON sidecar"
) -> dict[str, Any]:
    """Raw-phase settings from a sidecar: ``echo_time_ms``, ``field_strength_t``, ``encoding``.

    Values the sidecar lacks are ``None`` (the command-line flags then must give them). A
    sidecar whose ImageType marks a magnitude or SWI image is refused. Siemens phase as
    dcm2niix writes it (RescaleSlope 2 / RescaleIntercept -4096 applied) is ``siemens``;
    other vendors' phase is left to recognition from its values (``auto``).

    Examples
    --------
    >>> raw_phase_parameters(
    ...     {
    ...         "EchoTime": 0.02,
    ...         "MagneticFieldStrength": 3,
    ...         "ImageType": ["P"],
    ...         "Manufacturer": "Siemens",
    ...     }
    ... )
    {'echo_time_ms': 20.0, 'field_strength_t': 3.0, 'encoding': 'siemens'}
    """
    kind = image_kind(sidecar.get("ImageType"))
    if kind in ("magnitude", "swi"):
        raise InputDataError(
            f"ImageType {sidecar.get('ImageType')} marks a {kind} image, not phase. Rim "
            "lesions need the phase series (ImageType P); SWI magnitude or minimum-intensity "
            "projections cannot show them",
            file=source,
            expected="the sidecar of a phase image",
        )
    b0 = sidecar.get("MagneticFieldStrength")
    maker = str(sidecar.get("Manufacturer") or "").lower()
    encoding = "siemens" if ("siemens" in maker and kind == "phase") else "auto"
    return {
        "echo_time_ms": echo_time_ms(sidecar),
        "field_strength_t": float(b0) if isinstance(b0, (int, float)) and b0 > 0 else None,
        "encoding": encoding,
    }


def acquisition_plane(sidecar: Mapping[str, Any]) -> dict[str, Any] | None:
    """Plane (``axial``, ``coronal``, ``sagittal``) and obliquity (degrees) of the slices.

    From ``ImageOrientationPatientDICOM`` (row and column direction cosines); ``None`` when
    the sidecar lacks it.
    """
    iop = sidecar.get("ImageOrientationPatientDICOM")
    if not isinstance(iop, Sequence) or len(iop) != 6:
        return None
    row = np.asarray(iop[:3], dtype=float)
    col = np.asarray(iop[3:], dtype=float)
    normal = np.cross(row, col)
    n = np.linalg.norm(normal)
    if n == 0:
        return None
    normal = np.abs(normal / n)
    axis = int(np.argmax(normal))  # LPS: x left-right, y anterior-posterior, z head-foot
    plane = {0: "sagittal", 1: "coronal", 2: "axial"}[axis]
    tilt = float(np.degrees(np.arccos(np.clip(normal[axis], -1.0, 1.0))))
    return {"plane": plane, "obliquity_deg": tilt}


__all__ = [
    "DicomSeries",
    "Dcm2niixError",
    "find_dcm2niix",
    "is_dicom_file",
    "image_kind",
    "echo_time_ms",
    "read_sidecar",
    "convert_dicom",
    "select_series",
    "matching_magnitude",
    "resolve_image",
    "resolve_phase_and_magnitude",
    "raw_phase_parameters",
    "acquisition_plane",
]
