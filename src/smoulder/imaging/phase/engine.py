"""From phase as the scanner writes it to the local field the PRL engine reads.

:func:`process_raw_phase` takes wrapped phase (integers or radians), optionally the magnitude
of the same echo, the echo time, the field strength and the affine, and returns a
:class:`RawPhaseResult` whose ``local_phase_rad`` goes to
:func:`smoulder.imaging.prl.detect_prl` (``input_kind="phase"``, same ``phase_convention``)
and whose ``local_field_ppm`` is the same in ppm of B0, paramagnetic positive.

Steps (docs/raw_phase.md gives each one's measured effect): recognise and rescale the
encoding; refuse magnitude/SWI images; a mask of brain voxels with reliable phase; unwrap;
remove the background field; divide by ``2 pi gamma B0 TE``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import field_validator

from smoulder._params import Settings
from smoulder._result import AnalysisResult
from smoulder.exceptions import InputDataError, SettingsError
from smoulder.imaging.phase import background as bgr
from smoulder.imaging.phase.encoding import read_raw_phase
from smoulder.imaging.phase.fields import b0_direction, b0_tilt_deg, rad_per_ppm, voxel_sizes
from smoulder.imaging.phase.mask import signal_mask
from smoulder.imaging.phase.unwrap import unwrap_laplacian, unwrap_quality_guided


class RawPhaseSettings(Settings):
    """How raw phase is turned into the local field (``[raw_phase]`` in a settings file).

    Parameters
    ----------
    echo_time_ms : float
        Echo time of the phase image in milliseconds (``--echo-time-ms``; from a DICOM
        sidecar's ``EchoTime``, which is in seconds, times 1000).
    field_strength_t : float
        Main field in tesla (``--field-strength-t``; a sidecar's ``MagneticFieldStrength``).
    encoding : {"auto", "siemens", "12bit", "milliradians", "radians"}
        How the phase values are written (``--phase-encoding``); ``auto`` recognises them.
    phase_convention : {"paramagnetic-negative", "paramagnetic-positive"}
        Sign of paramagnetic field shifts in the phase (``--phase-convention``); the local phase
        keeps it, the local field in ppm is always paramagnetic positive.
    unwrap : {"laplacian", "quality-guided"}
        Unwrapping method (:mod:`smoulder.imaging.phase.unwrap`).
    background : {"vsharp", "pdf", "homodyne"}
        Background removal (:mod:`smoulder.imaging.phase.background`); ``homodyne`` needs no
        unwrapping and ignores ``unwrap``.
    vsharp_max_radius_mm, vsharp_threshold : float
        Largest sphere and deconvolution truncation of V-SHARP.
    pdf_iterations : int
        Conjugate-gradient iterations of PDF.
    homodyne_window_mm : float
        The homodyne Hanning window reaches zero at spatial frequency ``1 / window``.
    mask_magnitude_fraction : float
        Signal threshold (fraction of the magnitude's 99th percentile).
    mask_quality_rad : float
        Largest phase-quality value (rms wrapped second difference) of a masked voxel.
    mask_erode_mm : float
        Erosion of the mask edge before unwrapping.
    """

    section: ClassVar[str] = "raw_phase"

    echo_time_ms: float | None = None
    field_strength_t: float | None = None
    encoding: Literal["auto", "siemens", "12bit", "milliradians", "radians"] = "auto"
    phase_convention: Literal["paramagnetic-negative", "paramagnetic-positive"] = (
        "paramagnetic-negative"
    )
    unwrap: Literal["laplacian", "quality-guided"] = "laplacian"
    background: Literal["vsharp", "pdf", "homodyne"] = "vsharp"
    vsharp_max_radius_mm: float = 12.0
    vsharp_threshold: float = 0.05
    pdf_iterations: int = 40
    homodyne_window_mm: float = 8.0
    mask_magnitude_fraction: float = 0.15
    mask_quality_rad: float = 1.0
    mask_erode_mm: float = 1.0

    @field_validator("echo_time_ms")
    @classmethod
    def _te(cls, v: float | None) -> float | None:
        if v is None:
            return v
        if 0 < v < 0.5:
            raise SettingsError(
                f"echo_time_ms must be in milliseconds, got {v!r}: that looks like seconds "
                f"({v} s = {v * 1000:g} ms)"
            )
        if not 0.5 <= v <= 200:
            raise SettingsError(f"echo_time_ms must be between 0.5 and 200 ms, got {v!r}")
        return v

    @field_validator("field_strength_t")
    @classmethod
    def _b0(cls, v: float | None) -> float | None:
        if v is None:
            return v
        if v > 20:
            raise SettingsError(
                f"field_strength_t must be in tesla (0.1-20), got {v!r}: that looks like a "
                f"Larmor frequency in MHz ({v / 42.577:.2f} T)"
            )
        if not 0.1 <= v <= 20:
            raise SettingsError(f"field_strength_t must be between 0.1 and 20 T, got {v!r}")
        return v

    @field_validator("vsharp_max_radius_mm", "homodyne_window_mm")
    @classmethod
    def _positive_mm(cls, v: float) -> float:
        if not 0 < v <= 100:
            raise SettingsError(f"must be between 0 and 100 mm, got {v!r}")
        return v

    @field_validator("vsharp_threshold", "mask_magnitude_fraction")
    @classmethod
    def _fraction(cls, v: float) -> float:
        if not 0 < v < 1:
            raise SettingsError(f"must be between 0 and 1, got {v!r}")
        return v

    @field_validator("pdf_iterations")
    @classmethod
    def _iterations(cls, v: int) -> int:
        if not 1 <= v <= 1000:
            raise SettingsError(f"must be between 1 and 1000, got {v!r}")
        return v

    @field_validator("mask_quality_rad", "mask_erode_mm")
    @classmethod
    def _nonneg(cls, v: float) -> float:
        if not 0 <= v <= 20:
            raise SettingsError(f"must be between 0 and 20, got {v!r}")
        return v

    def rad_per_ppm(self) -> float:
        """Phase per ppm of field: ``2 pi gamma B0 TE`` (needs both acquisition values)."""
        missing = [
            flag
            for flag, v in (
                ("--echo-time-ms", self.echo_time_ms),
                ("--field-strength-t", self.field_strength_t),
            )
            if v is None
        ]
        if missing:
            err = SettingsError(
                "raw phase needs the echo time and the field strength to turn phase into a "
                f"field: give {' and '.join(missing)} (or a DICOM folder, whose sidecar has them)"
            )
            err.parameter = "echo_time_ms" if self.echo_time_ms is None else "field_strength_t"
            raise err
        assert self.echo_time_ms is not None and self.field_strength_t is not None
        return rad_per_ppm(self.field_strength_t, self.echo_time_ms)


@dataclass
class RawPhaseResult(AnalysisResult):
    """The local field recovered from raw phase, with everything needed to check it.

    Attributes
    ----------
    local_phase_rad : numpy.ndarray of float32
        Background-free phase (radians at this echo time), in ``settings.phase_convention``,
        zero outside ``mask``: the input of :func:`smoulder.imaging.prl.detect_prl`.
    local_field_ppm : numpy.ndarray of float32
        The same in ppm of B0, paramagnetic positive.
    mask : numpy.ndarray of bool
        Voxels where the local field is valid (the signal mask less the background removal's
        eroded edge).
    signal_mask : numpy.ndarray of bool
        Voxels whose phase was used.
    unwrapped_phase_rad : numpy.ndarray of float32 or None
        Total unwrapped phase in ``signal_mask`` (``None`` for homodyne filtering).
    encoding : str
        The encoding read (``siemens``, ``12bit``, ``milliradians`` or ``radians``).
    b0_direction : numpy.ndarray
        Unit B0 vector along the voxel axes (from the affine).
    affine : (4, 4) array
        The phase image's affine (the grid of every array here).
    """

    local_phase_rad: np.ndarray
    local_field_ppm: np.ndarray
    mask: np.ndarray
    signal_mask: np.ndarray
    unwrapped_phase_rad: np.ndarray | None
    encoding: str
    b0_direction: np.ndarray
    settings: RawPhaseSettings
    version: str
    facts: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    affine: np.ndarray = field(default_factory=lambda: np.eye(4))

    pipeline: ClassVar[str] = ""  # written by the PRL pipeline, not on its own

    @property
    def summary(self) -> pd.DataFrame:
        """One row: what was read, the mask, the fields' ranges, the time taken."""
        return pd.DataFrame([self.facts])

    def methods(self) -> str:
        """A methods paragraph stating what ran, with its parameters."""
        st = self.settings
        f = self.facts
        enc = {
            "siemens": "Siemens integers (-4096..4095, value x pi/4096)",
            "12bit": "12-bit integers (0..4095, (value - 2048) x pi/2048)",
            "milliradians": "milliradians (value / 1000)",
            "radians": "radians",
        }[self.encoding]
        mask = (
            f"a mask of voxels above {st.mask_magnitude_fraction:g} of the magnitude's 99th "
            "percentile"
            if f.get("magnitude_used")
            else "a mask"
        )
        mask += (
            f" with reliable phase (rms wrapped second difference <= {st.mask_quality_rad:g} rad; "
            f"largest component, holes filled, edge eroded by {st.mask_erode_mm:g} mm)"
        )
        if st.background == "homodyne":
            steps = (
                "high-pass filtered by homodyne division of the complex signal with its k-space "
                f"Hanning low-pass (window reaching zero at 1/{st.homodyne_window_mm:g} mm^-1, "
                "in-plane)"
            )
        else:
            unwrap = (
                "unwrapped by least-squares (Laplacian) unwrapping solved with the discrete "
                "cosine transform"
                if st.unwrap == "laplacian"
                else "unwrapped by reliability-guided path following (scikit-image)"
            )
            if st.background == "vsharp":
                bg = (
                    "the background field was removed with V-SHARP (spheres of "
                    f"{st.vsharp_max_radius_mm:g} mm down to one voxel, truncation "
                    f"{st.vsharp_threshold:g})"
                )
            else:
                bg = (
                    "the background field was removed by projection onto dipole fields "
                    f"({st.pdf_iterations} conjugate-gradient iterations, B0 direction from the "
                    "image affine)"
                )
            steps = f"{unwrap}; {bg}"
        return (
            f"Raw phase ({enc}; TE {st.echo_time_ms:g} ms, B0 {st.field_strength_t:g} T, "
            f"{f.get('rad_per_ppm', float('nan')):.2f} rad/ppm) was restricted to {mask} and "
            f"{steps} (smoulder {self.version}). B0 was {f.get('b0_tilt_deg', 0.0):.1f} degrees "
            "from the nearest voxel axis."
        )

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"raw_phase": self.summary}


def _check_array(a: Any, what: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    if arr.ndim != 3:
        raise InputDataError(
            f"the {what} image is not 3-D",
            value=tuple(arr.shape),
            expected="a 3-D volume (one echo; give multi-echo data one echo at a time)",
        )
    return arr


def process_raw_phase(
    phase: np.ndarray,
    affine: np.ndarray,
    settings: RawPhaseSettings | None = None,
    *,
    magnitude: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    **overrides: Any,
) -> RawPhaseResult:
    """Turn wrapped scanner phase into the local field (radians and ppm).

    Parameters
    ----------
    phase : numpy.ndarray
        Phase as the file holds it (after NIfTI scaling): integers -4096..4095 or 0..4095, or
        radians.
    affine : (4, 4) array
        Voxel-to-scanner affine; voxel sizes and the B0 direction come from it.
    settings : RawPhaseSettings, optional
        ``echo_time_ms`` and ``field_strength_t`` are required (here or in ``overrides``).
    magnitude : numpy.ndarray, optional
        Magnitude of the same echo on the same grid; improves the mask.
    mask : numpy.ndarray of bool, optional
        A brain mask to use instead of the one made from the magnitude and phase.
    **overrides
        Settings changed for this call (``echo_time_ms=20``...); ``None`` values are ignored.

    Returns
    -------
    RawPhaseResult

    Raises
    ------
    InputDataError
        Unrecognised or ambiguous phase values, a magnitude/SWI image given as phase, shapes
        that differ, an empty mask.
    SettingsError
        Missing echo time or field strength, or a bad setting.

    Examples
    --------
    >>> from smoulder.synth.raw_phase import simulate_raw_phase
    >>> scan = simulate_raw_phase(seed=1, voxel_size=2.0, n_lesions=4)  # doctest: +SKIP
    >>> res = process_raw_phase(
    ...     scan.phase, scan.affine, magnitude=scan.magnitude, echo_time_ms=20, field_strength_t=3
    ... )  # doctest: +SKIP
    >>> res.encoding, res.summary[["valid_ml", "b0_tilt_deg"]]  # doctest: +SKIP
    >>> from smoulder.imaging.prl import detect_prl
    >>> prl = detect_prl(
    ...     res.local_phase_rad, scan.labels, scan.affine, input_kind="phase", brain=res.mask
    ... )  # doctest: +SKIP
    """
    from smoulder import __version__

    t0 = time.perf_counter()
    st = RawPhaseSettings.from_mapping(
        settings.to_dict() if settings is not None else None, **overrides
    )
    rpp = st.rad_per_ppm()
    raw = _check_array(phase, "phase")
    aff = np.asarray(affine, dtype=float)
    b0 = b0_direction(aff)
    zooms = voxel_sizes(aff)
    mag = None
    if magnitude is not None:
        mag = _check_array(magnitude, "magnitude").astype(np.float32)
        if mag.shape != raw.shape:
            raise InputDataError(
                "the magnitude image is not on the phase image's grid",
                value=f"{mag.shape} against {raw.shape}",
                expected="the magnitude of the same series (same matrix)",
            )
        if not np.all(np.isfinite(mag)):
            raise InputDataError(
                "the magnitude image holds non-finite values", expected="finite magnitudes"
            )
        if float(mag.min()) < 0:
            raise InputDataError(
                "the magnitude image has negative values: is it the phase? (were --phase and "
                "--magnitude swapped?)",
                value=f"minimum {float(mag.min()):g}",
                expected="a magnitude image (values >= 0)",
            )
    rad, encoding = read_raw_phase(raw, st.encoding)
    p = rad.astype(np.float32)
    notes: list[str] = []
    if mask is not None:
        smask = _check_array(mask, "mask").astype(bool)
        if smask.shape != raw.shape:
            raise InputDataError(
                "the brain mask is not on the phase image's grid",
                value=f"{smask.shape} against {raw.shape}",
                expected="a mask on the phase grid",
            )
    else:
        smask = signal_mask(
            p,
            zooms,
            magnitude=mag,
            magnitude_fraction=st.mask_magnitude_fraction,
            quality_max_rad=st.mask_quality_rad,
            erode_mm=st.mask_erode_mm,
        )
    if int(smask.sum()) < 1000:
        raise InputDataError(
            "too few voxels with usable phase (under 1000) to remove the background field",
            value=int(smask.sum()),
            expected="a head image with signal (check that the phase and magnitude belong to "
            "one series)",
        )
    unwrapped: np.ndarray | None = None
    if st.background == "homodyne":
        local = bgr.homodyne(p, zooms, magnitude=mag, window_mm=st.homodyne_window_mm) * smask
        valid = smask
    else:
        if st.unwrap == "laplacian":
            unwrapped = unwrap_laplacian(p, zooms, mask=smask).astype(np.float32)
        else:
            unwrapped = unwrap_quality_guided(p, smask).astype(np.float32)
        unwrapped *= smask
        if st.background == "vsharp":
            local, valid = bgr.vsharp(
                unwrapped,
                smask,
                zooms,
                max_radius_mm=st.vsharp_max_radius_mm,
                threshold=st.vsharp_threshold,
            )
        else:
            local = bgr.pdf(
                unwrapped,
                smask,
                zooms,
                b0,
                weights=None if mag is None else mag / max(float(np.percentile(mag, 99)), 1e-9),
                n_iter=st.pdf_iterations,
            )
            valid = smask
    if not valid.any():
        raise InputDataError(
            "no voxel is left after the background field removal (the mask is too thin)",
            expected="a brain mask thicker than a few voxels",
        )
    sign = -1.0 if st.phase_convention == "paramagnetic-negative" else 1.0
    local = np.where(valid, local - float(np.median(local[valid])), 0.0).astype(np.float32)
    field_ppm = (sign * local / rpp).astype(np.float32)
    voxel_ml = float(np.prod(zooms)) / 1000.0
    facts: dict[str, Any] = {
        "encoding": encoding,
        "phase_min": float(raw.min()),
        "phase_max": float(raw.max()),
        "echo_time_ms": st.echo_time_ms,
        "field_strength_t": st.field_strength_t,
        "rad_per_ppm": rpp,
        "magnitude_used": mag is not None,
        "mask_source": "given"
        if mask is not None
        else ("magnitude+phase" if mag is not None else "phase"),
        "signal_mask_ml": float(smask.sum()) * voxel_ml,
        "valid_ml": float(valid.sum()) * voxel_ml,
        "unwrap": None if st.background == "homodyne" else st.unwrap,
        "background": st.background,
        "b0_tilt_deg": b0_tilt_deg(aff),
        "local_field_sd_ppb": 1000.0 * float(np.std(field_ppm[valid])),
        "seconds": time.perf_counter() - t0,
    }
    if unwrapped is not None:
        tot = unwrapped[smask] / rpp
        lo, hi = np.percentile(tot, [1, 99])
        facts["background_range_ppm"] = float(hi - lo)
    return RawPhaseResult(
        local_phase_rad=local,
        local_field_ppm=field_ppm,
        mask=np.asarray(valid, dtype=bool),
        signal_mask=np.asarray(smask, dtype=bool),
        unwrapped_phase_rad=unwrapped,
        encoding=encoding,
        b0_direction=b0,
        settings=st,
        version=__version__,
        facts=facts,
        notes=notes,
        affine=aff.copy(),
    )


__all__ = ["RawPhaseSettings", "RawPhaseResult", "process_raw_phase"]
