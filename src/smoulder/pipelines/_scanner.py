"""Input as the scanner gives it, for the imaging pipelines: DICOM folders and raw phase.

:class:`ScannerInputs` lets every image flag take a DICOM folder (or one DICOM file) as well
as a NIfTI file: a folder is converted once with dcm2niix (:mod:`smoulder.io.dicom`) into a
temporary folder that is removed when the run ends, the series is chosen by its ImageType,
and the sidecar's acquisition fields (an allow-list: no names, dates or device identifiers)
are kept for the outputs' JSON sidecar.

:func:`load_raw_phase` reads raw scanner phase (and its magnitude), takes the echo time, the
field strength and the encoding from the sidecar where the command line gives none, and runs
:func:`smoulder.imaging.phase.process_raw_phase`: its local phase then goes through the PRL
pipeline like any processed phase image.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from smoulder.exceptions import InputDataError
from smoulder.imaging.phase import RawPhaseResult, RawPhaseSettings, process_raw_phase
from smoulder.io import dicom, nifti
from smoulder.schema import images as img

#: Sidecar fields copied to the outputs (acquisition only; nothing that identifies a person).
SIDECAR_FIELDS = (
    "Modality",
    "Manufacturer",
    "ManufacturersModelName",
    "MagneticFieldStrength",
    "EchoTime",
    "EchoNumber",
    "RepetitionTime",
    "FlipAngle",
    "ImageType",
    "SeriesNumber",
    "SeriesDescription",
    "ProtocolName",
    "SliceThickness",
    "ImageOrientationPatientDICOM",
    "PhaseEncodingDirection",
    "ConversionSoftware",
    "ConversionSoftwareVersion",
)


def acquisition_fields(sidecar: Mapping[str, Any]) -> dict[str, Any]:
    """The allow-listed acquisition fields of a sidecar, plus the acquisition plane."""
    out = {k: sidecar[k] for k in SIDECAR_FIELDS if k in sidecar}
    plane = dicom.acquisition_plane(sidecar)
    if plane is not None:
        out["AcquisitionPlane"] = plane["plane"]
        out["ObliquityDegrees"] = round(plane["obliquity_deg"], 2)
    return out


def _is_dicom(p: Path) -> bool:
    return p.is_dir() or (p.is_file() and dicom.is_dicom_file(p))


class ScannerInputs:
    """Image inputs that may be NIfTI files or DICOM folders (a context manager).

    Examples
    --------
    >>> with ScannerInputs() as scan:  # doctest: +SKIP
    ...     flair = scan.load("exam/flair_dicom/", "--flair")
    ...     scan.acquisition["--flair"]["EchoTime"]
    """

    def __init__(self) -> None:
        self._work: Path | None = None
        self._converted: dict[Path, list[dicom.DicomSeries]] = {}
        #: Allow-listed sidecar fields of every image read, by flag.
        self.acquisition: dict[str, dict[str, Any]] = {}
        #: The series chosen from each DICOM input, by flag (for messages and provenance).
        self.series: dict[str, str] = {}

    def __enter__(self) -> ScannerInputs:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Remove the converted files."""
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None

    def _convert(self, p: Path) -> list[dicom.DicomSeries]:
        key = p.resolve()
        if key not in self._converted:
            if self._work is None:
                self._work = Path(tempfile.mkdtemp(prefix="smoulder-dicom-"))
            self._converted[key] = dicom.convert_dicom(p, self._work)
        return self._converted[key]

    def resolve(
        self,
        path: str | Path,
        flag: str,
        *,
        kind: str | None = None,
        series: int | None = None,
        series_flag: str | None = None,
    ) -> dicom.DicomSeries:
        """The NIfTI file to read for ``path`` (converted when DICOM) and its sidecar."""
        p = Path(path)
        if _is_dicom(p):
            chosen = dicom.select_series(
                self._convert(p), kind, series_number=series, source=str(p), flag=series_flag
            )
            self.series[flag] = chosen.label()
        else:  # NIfTI (or anything else: the NIfTI reader names what is wrong with it)
            try:
                side = dicom.read_sidecar(p) if p.name.endswith(dicom.NIFTI_SUFFIXES) else None
            except InputDataError:
                if kind == "phase":
                    raise
                side = None  # a broken sidecar beside a FLAIR or mask is not needed
            chosen = dicom.DicomSeries(p, None, side or {})
        if chosen.sidecar:
            self.acquisition[flag] = acquisition_fields(chosen.sidecar)
        return chosen

    def _read(self, s: dicom.DicomSeries, path: str | Path, labels: bool) -> img.Volume:
        vol = nifti.load_label_volume(s.nifti) if labels else nifti.load_volume(s.nifti)
        if s.nifti != Path(path):  # converted from DICOM
            vol.source = f"{path} ({s.label()})"
        return vol

    def load(
        self,
        path: str | Path,
        flag: str,
        *,
        kind: str | None = None,
        labels: bool = False,
        series: int | None = None,
        series_flag: str | None = None,
    ) -> img.Volume:
        """Read ``path`` (NIfTI, DICOM folder or DICOM file) as a checked volume."""
        s = self.resolve(path, flag, kind=kind, series=series, series_flag=series_flag)
        return self._read(s, path, labels)

    def phase_and_magnitude(
        self,
        phase: str | Path,
        magnitude: str | Path | None,
        *,
        phase_series: int | None = None,
        magnitude_series: int | None = None,
    ) -> tuple[dicom.DicomSeries, dicom.DicomSeries | None]:
        """The raw phase series and its magnitude (from the phase's own DICOM folder if not given)."""
        ph = self.resolve(
            phase, "--phase", kind="phase", series=phase_series, series_flag="--phase-series"
        )
        p = Path(phase)
        mag: dicom.DicomSeries | None = None
        if magnitude is not None:
            mag = self.resolve(
                magnitude,
                "--magnitude",
                kind="magnitude",
                series=magnitude_series,
                series_flag="--magnitude-series",
            )
        elif _is_dicom(p):
            conv = self._convert(p)
            if magnitude_series is not None:
                mag = dicom.select_series(
                    conv,
                    "magnitude",
                    series_number=magnitude_series,
                    source=str(p),
                    flag="--magnitude-series",
                )
            else:
                mag = dicom.matching_magnitude(conv, ph)
            if mag is not None:
                self.series["--magnitude"] = mag.label()
                if mag.sidecar:
                    self.acquisition["--magnitude"] = acquisition_fields(mag.sidecar)
        return ph, mag


def _raw_settings(
    settings: RawPhaseSettings | Mapping[str, Any] | None,
    sidecar: Mapping[str, Any],
    source: str,
    phase_convention: str,
    warnings_out: list[str],
) -> RawPhaseSettings:
    """Raw-phase settings: the given values, then the sidecar's for those not given."""
    given = settings.to_dict() if isinstance(settings, RawPhaseSettings) else dict(settings or {})
    given = {k: v for k, v in given.items() if v is not None}
    from_sidecar = dicom.raw_phase_parameters(sidecar, source=source) if sidecar else {}
    merged = dict(given)
    for key, flag in (
        ("echo_time_ms", "--echo-time-ms"),
        ("field_strength_t", "--field-strength-t"),
    ):
        side = from_sidecar.get(key)
        if side is None:
            continue
        if key not in merged:
            merged[key] = side
        elif abs(float(merged[key]) - float(side)) > 0.01 * abs(float(side)):
            warnings_out.append(
                f"{flag} {merged[key]:g} differs from the sidecar's {side:g}; {flag} was used"
            )
    if merged.get("encoding", "auto") == "auto" and from_sidecar.get("encoding", "auto") != "auto":
        merged["encoding"] = from_sidecar["encoding"]
    merged["phase_convention"] = phase_convention
    return RawPhaseSettings.from_mapping(merged)


def load_raw_phase(
    scan: ScannerInputs,
    phase: str | Path,
    *,
    magnitude: str | Path | None = None,
    settings: RawPhaseSettings | Mapping[str, Any] | None = None,
    phase_convention: str = "paramagnetic-negative",
    phase_series: int | None = None,
    magnitude_series: int | None = None,
) -> tuple[img.Volume, img.Volume | None, RawPhaseResult, list[str]]:
    """Raw scanner phase (NIfTI or DICOM) to the local phase, on the phase grid.

    Returns
    -------
    (local phase volume, magnitude volume or None, RawPhaseResult, warnings)
        The local phase (radians, ``phase_convention``, zero outside the valid mask) is what
        the PRL engine reads as ``input_kind="phase"``.

    Raises
    ------
    InputDataError
        A magnitude/SWI image or series given as phase, phase values of no known encoding, a
        magnitude on another grid; the message names the flag and the file.
    SettingsError
        No echo time or field strength (neither flag nor sidecar).
    """
    notes: list[str] = []
    ph, mag = scan.phase_and_magnitude(
        phase, magnitude, phase_series=phase_series, magnitude_series=magnitude_series
    )
    st = _raw_settings(settings, ph.sidecar, f"--phase {phase}", phase_convention, notes)
    pv = scan._read(ph, phase, labels=False)
    mv = None
    if mag is not None:
        mv = scan._read(mag, magnitude if magnitude is not None else phase, labels=False)
        img.check_same_grid(pv, mv, "magnitude image (must be on the raw phase's grid)")
    try:
        res = process_raw_phase(pv.data, pv.affine, st, magnitude=None if mv is None else mv.data)
    except InputDataError as exc:
        if exc.file is not None:
            raise
        raise InputDataError(str(exc), file=f"--phase {pv.source}") from None
    notes.extend(res.notes)
    if res.facts.get("b0_tilt_deg", 0.0) > 5.0:
        notes.append(
            f"B0 is {res.facts['b0_tilt_deg']:.1f} degrees from the nearest voxel axis of the "
            "phase image (an oblique slab)"
        )
    local = img.Volume(res.local_phase_rad, pv.affine.copy(), f"{pv.source} (local phase)")
    return local, mv, res, notes


__all__ = ["SIDECAR_FIELDS", "ScannerInputs", "acquisition_fields", "load_raw_phase"]
