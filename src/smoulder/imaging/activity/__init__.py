"""New and enlarging T2 lesions between two FLAIR scans (MRI activity, for PIRMA).

Pure engine: volumes in, a result out (no file access). The pipeline
:mod:`smoulder.pipelines.mri_activity` reads the NIfTI files, segments the baseline lesions when no
mask is given and writes the activity table that ``smoulder progression --mri-activity`` reads.
The method is described in docs/mri_activity.md.
"""

from smoulder.imaging.activity.engine import detect_activity
from smoulder.imaging.activity.result import ActivityResult
from smoulder.imaging.activity.settings import ActivitySettings

__all__ = ["detect_activity", "ActivityResult", "ActivitySettings"]
