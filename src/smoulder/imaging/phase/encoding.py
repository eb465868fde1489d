"""How scanners write phase, and its rescaling to radians.

Three forms are read (``--phase-encoding``):

``siemens``
    integers -4096..4095: Siemens stores 0..4095 with RescaleSlope 2 and RescaleIntercept
    -4096, so the values are even numbers -4096..4094 and ``radians = value * pi / 4096``;
``12bit``
    integers 0..4095 (other vendors, or Siemens values without the rescale):
    ``radians = (value - 2048) * pi / 2048``;
``milliradians``
    integers -3142..3142 (radians x 1000, as some converters write phase):
    ``radians = value / 1000``;
``radians``
    floating-point phase in (-pi, pi] or [0, 2 pi).

Siemens values are always even; whole numbers within +-3142 with odd values among them are
milliradians; odd values beyond +-3142 are neither and refused.

``auto`` recognises them from the observed range and refuses anything else (degrees,
already unwrapped or filtered phase, a phase image too narrow to tell) with a
message naming the range it saw. A magnitude or SWI image given as phase (no negative values
and not one phase wrap) is refused too.
"""

from __future__ import annotations

import numpy as np

from smoulder.exceptions import InputDataError

ENCODINGS = ("auto", "radians", "siemens", "12bit", "milliradians")

#: The accepted forms, in the user's words (repeated in every refusal).
ACCEPTED = (
    "radians in (-pi, pi] or [0, 2 pi); integers -4096..4095 (Siemens, after RescaleSlope 2 / "
    "RescaleIntercept -4096: even numbers); integers 0..4095 (12-bit, other vendors); "
    "integers -3142..3142 (milliradians)"
)
_MRAD = 1000.0 * np.pi + 0.5  # largest |value| of wrapped phase in whole milliradians

_TOL = 1e-3  # radians of float rounding allowed at the ends of the radian range
_INT_TOL = 1e-3  # distance from a whole number for "integer-valued"


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _integer_valued(a: np.ndarray) -> bool:
    sample = a.ravel()
    if sample.size > 2_000_000:  # a strided sample is enough to tell integers from floats
        sample = sample[:: sample.size // 1_000_000]
    return bool(np.all(np.abs(sample - np.round(sample)) < _INT_TOL))


def _all_even(a: np.ndarray) -> bool:
    sample = a.ravel()
    if sample.size > 2_000_000:
        sample = sample[:: sample.size // 1_000_000]
    return bool(np.all(np.round(sample) % 2 == 0))


def _fits(encoding: str, lo: float, hi: float) -> bool:
    if encoding == "radians":
        return (lo >= -np.pi - _TOL and hi <= np.pi + _TOL) or (
            lo >= -_TOL and hi <= 2 * np.pi + _TOL
        )
    if encoding == "siemens":
        return lo >= -4096 - _INT_TOL and hi <= 4095 + _INT_TOL
    if encoding == "12bit":
        return lo >= -_INT_TOL and hi <= 4095 + _INT_TOL
    if encoding == "milliradians":
        return lo >= -_MRAD and hi <= _MRAD
    raise InputDataError("unknown phase encoding", value=encoding, expected=", ".join(ENCODINGS))


def detect_encoding(phase: np.ndarray, declared: str = "auto") -> str:
    """The encoding of a raw phase image: ``declared`` checked, or recognised from its range.

    Parameters
    ----------
    phase : numpy.ndarray
        The phase values as the file holds them (after the NIfTI scaling).
    declared : {"auto", "radians", "siemens", "12bit", "milliradians"}

    Returns
    -------
    str
        ``"radians"``, ``"siemens"``, ``"12bit"`` or ``"milliradians"``.

    Raises
    ------
    InputDataError
        When a value is not finite (the voxel is named), the values do not fit the declared
        encoding, or (``auto``) the range fits none of the accepted forms or more than one.

    Examples
    --------
    >>> import numpy as np
    >>> detect_encoding(np.array([-4096.0, -2.0, 0.0, 4094.0]))
    'siemens'
    >>> detect_encoding(np.array([0.0, 1000.0, 4095.0]))
    '12bit'
    >>> detect_encoding(np.array([-3.14159, 0.5, 3.14159]))
    'radians'
    """
    a = np.asarray(phase)
    if declared not in ENCODINGS:
        raise InputDataError(
            "unknown phase encoding (--phase-encoding)",
            value=declared,
            expected=", ".join(ENCODINGS),
        )
    if a.size == 0:
        raise InputDataError("the phase image is empty", expected="a 3-D phase image")
    if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
        raise InputDataError(
            "the phase image is not real-valued numbers", value=str(a.dtype), expected=ACCEPTED
        )
    bad = ~np.isfinite(a)
    if bad.any():
        vox = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), a.shape))
        raise InputDataError(
            f"the phase image holds a non-finite value at voxel {vox}",
            value=float(a[vox]),
            expected="finite phase values",
        )
    lo, hi = float(a.min()), float(a.max())
    seen = f"the phase values run from {_fmt(lo)} to {_fmt(hi)}"
    if declared != "auto":
        if not _fits(declared, lo, hi):
            raise InputDataError(
                f"{seen}, outside the declared --phase-encoding {declared}",
                expected=ACCEPTED,
            )
        return declared
    integer = _integer_valued(a)
    span = hi - lo
    if not integer:
        if _fits("radians", lo, hi):
            return "radians"
        raise InputDataError(
            f"{seen}: not wrapped radians and not whole numbers, so not phase as a scanner "
            "writes it (degrees? milliradians? phase that is already unwrapped or filtered "
            "goes to --phase without --raw-phase)",
            expected=ACCEPTED,
        )
    if lo < -_INT_TOL and lo >= -4096 - _INT_TOL and hi <= 4095 + _INT_TOL:
        even = _all_even(a)
        if not even and lo >= -_MRAD and hi <= _MRAD and span >= _MRAD:
            return "milliradians"
        if span >= 4096 and even:
            return "siemens"
        if span >= 4096:
            raise InputDataError(
                f"{seen} (whole numbers, odd ones among them): not Siemens phase, whose "
                "values are even numbers -4096..4094 (RescaleSlope 2 / RescaleIntercept "
                "-4096), and beyond the +-3142 of milliradians. Declare it with "
                "--phase-encoding siemens|12bit|milliradians|radians if you are sure",
                expected=ACCEPTED,
            )
    if lo >= -4096 - _INT_TOL and hi <= 4095 + _INT_TOL and span >= 4096:
        return "siemens" if lo < -_INT_TOL else "12bit"
    if lo >= -_INT_TOL and hi <= 4095 + _INT_TOL and span >= 2048:
        return "12bit"
    raise InputDataError(
        f"{seen} (whole numbers): too narrow or too wide a range to tell which encoding it "
        "is; wrapped phase spans the whole circle. Declare it with --phase-encoding "
        "siemens|12bit|milliradians|radians if you are sure",
        expected=ACCEPTED,
    )


def to_radians(phase: np.ndarray, encoding: str) -> np.ndarray:
    """Phase in radians, wrapped into [-pi, pi), from a detected or declared encoding.

    The integer encodings rescale exactly: Siemens ``-4096 -> -pi``, ``0 -> 0``,
    ``2048 -> pi/2``; 12-bit ``0 -> -pi``, ``2048 -> 0``, ``3072 -> pi/2``.

    Examples
    --------
    >>> import numpy as np
    >>> to_radians(np.array([-4096, 0, 2048]), "siemens") / np.pi
    array([-1. ,  0. ,  0.5])
    >>> to_radians(np.array([0, 2048, 3072]), "12bit") / np.pi
    array([-1. ,  0. ,  0.5])
    """
    a = np.asarray(phase, dtype=np.float64)
    if encoding == "siemens":
        r = a * (np.pi / 4096.0)
    elif encoding == "12bit":
        r = (a - 2048.0) * (np.pi / 2048.0)
    elif encoding == "milliradians":
        r = a / 1000.0
    elif encoding == "radians":
        r = a
    else:
        raise InputDataError(
            "unknown phase encoding",
            value=encoding,
            expected="radians, siemens, 12bit or milliradians",
        )
    # values already in [-pi, pi) are kept bit for bit; only those outside are wrapped
    out = np.where((r >= np.pi) | (r < -np.pi), np.mod(r + np.pi, 2.0 * np.pi) - np.pi, r)
    return np.asarray(out, dtype=np.float64)


def wrap_jump_fraction(phase_rad: np.ndarray) -> float:
    """Fraction of neighbouring voxel pairs whose phase jumps by more than 1.5 pi.

    Wrapped phase has such jumps along every wrap (and everywhere in noise); a magnitude image
    read as phase has almost none.
    """
    a = np.asarray(phase_rad, dtype=np.float32)
    jumps = 0
    pairs = 0
    for ax in range(a.ndim):
        d = np.abs(np.diff(a, axis=ax))
        jumps += int(np.count_nonzero(d > 1.5 * np.pi))
        pairs += d.size
    return jumps / max(pairs, 1)


def _corners(a: np.ndarray) -> np.ndarray:
    """Values in the eight corner blocks (a tenth of each dimension) of the field of view."""
    parts = []
    ks = [max(1, n // 10) for n in a.shape]
    for cx in (slice(0, ks[0]), slice(a.shape[0] - ks[0], None)):
        for cy in (slice(0, ks[1]), slice(a.shape[1] - ks[1], None)):
            for cz in (slice(0, ks[2]), slice(a.shape[2] - ks[2], None)):
                parts.append(a[cx, cy, cz].ravel())
    return np.concatenate(parts)


def looks_like_magnitude(phase: np.ndarray, *, declared: bool = False) -> bool:
    """Whether an image given as phase is really a magnitude or SWI image.

    Magnitude is never negative, and a head image's field of view has air in its corners:
    phase there is noise spread over the whole range of values; a magnitude or SWI image is
    dark there (median under 5 % of the image's maximum, interquartile range under 10 % of
    its range); that test is skipped when the encoding was declared (``declared``). A masked
    image (corners all one value) is magnitude-like when, inside the mask, fewer than 1 in
    10,000 neighbouring pairs jump by more than three quarters of the range (phase wraps do).
    """
    a = np.asarray(phase)
    if a.size == 0 or not np.all(np.isfinite(a)) or float(a.min()) < 0 or a.ndim != 3:
        return False
    corners = _corners(a)
    top, bottom = float(a.max()), float(a.min())
    if corners.size >= 8 and np.all(corners == corners[0]):
        # masked (the background set to one value): phase still wraps inside the mask, i.e.
        # neighbours inside jump by about the whole range; a masked magnitude does not
        inside = a != corners[0]
        jumps = pairs = 0
        for ax in range(3):
            both = np.logical_and(np.delete(inside, 0, axis=ax), np.delete(inside, -1, axis=ax))
            d = np.abs(np.diff(a, axis=ax))[both]
            jumps += int(np.count_nonzero(d > 0.75 * (top - bottom)))
            pairs += int(d.size)
        return jumps < 1e-4 * max(pairs, 1)
    if declared:
        return False
    lo, med, hi = (float(x) for x in np.percentile(corners, [25, 50, 75]))
    return med <= 0.05 * top and (hi - lo) <= 0.1 * (top - bottom)


def _magnitude_error(phase: np.ndarray) -> InputDataError:
    return InputDataError(
        "this image looks like a magnitude or SWI image, not phase: it has no negative values "
        "and a dark background (or no phase wraps). Rim lesions need the phase: export the "
        "scanner's phase series (DICOM ImageType P / PHASE; for SWI, the series recorded beside "
        "the magnitude and minimum-intensity projection) and give it with --phase, or give a "
        "QSM map with --qsm. Phase that is already unwrapped goes to --phase without --raw-phase",
        value=f"values {_fmt(float(np.min(phase)))}..{_fmt(float(np.max(phase)))}",
        expected="a wrapped phase image",
    )


def read_raw_phase(phase: np.ndarray, declared: str = "auto") -> tuple[np.ndarray, str]:
    """Recognise (or check) the encoding, refuse magnitude/SWI images, return radians.

    Returns
    -------
    (phase_rad, encoding)
        Phase in radians in [-pi, pi) (float64) and the encoding read.
    """
    explicit = declared != "auto"
    try:
        encoding = detect_encoding(phase, declared)
    except InputDataError:
        if looks_like_magnitude(phase, declared=explicit):
            raise _magnitude_error(phase) from None
        raise
    rad = to_radians(phase, encoding)
    if looks_like_magnitude(phase, declared=explicit):
        raise _magnitude_error(phase)
    if float(np.min(phase)) >= 0 and wrap_jump_fraction(rad) == 0.0:
        raise _magnitude_error(phase)
    return rad, encoding


__all__ = [
    "ENCODINGS",
    "ACCEPTED",
    "detect_encoding",
    "to_radians",
    "wrap_jump_fraction",
    "looks_like_magnitude",
    "read_raw_phase",
]
