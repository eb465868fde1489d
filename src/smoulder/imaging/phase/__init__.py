"""Raw scanner phase to the local field: encoding, mask, unwrapping, background removal.

The public entry point is :func:`process_raw_phase`; the steps are importable on their own
(:mod:`.encoding`, :mod:`.mask`, :mod:`.unwrap`, :mod:`.background`, :mod:`.fields`).
Pure numpy / scipy / scikit-image: no file access.
"""

from smoulder.imaging.phase.encoding import ENCODINGS, detect_encoding, to_radians
from smoulder.imaging.phase.engine import RawPhaseResult, RawPhaseSettings, process_raw_phase
from smoulder.imaging.phase.fields import b0_direction, b0_tilt_deg, dipole_convolve, rad_per_ppm

__all__ = [
    "ENCODINGS",
    "RawPhaseResult",
    "RawPhaseSettings",
    "b0_direction",
    "b0_tilt_deg",
    "detect_encoding",
    "dipole_convolve",
    "process_raw_phase",
    "rad_per_ppm",
    "to_radians",
]
