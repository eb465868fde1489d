"""Constants and small helpers shared by the OMOP readers."""

from __future__ import annotations

import pandas as pd

#: source values recognised when a measurement's concept is 0 or unknown (lower case)
SOURCE_VALUES = {
    "edss": "edss",
    "expanded disability status scale": "edss",
    "t25fw": "t25fw",
    "25fw": "t25fw",
    "t25fwt": "t25fw",
    "timed 25-foot walk": "t25fw",
    "nhpt": "nhpt",
    "9hpt": "nhpt",
    "9-hole peg test": "nhpt",
    "nine-hole peg test": "nhpt",
    "sdmt": "sdmt",
    "symbol digit modalities test": "sdmt",
    "ms relapse": "relapse",
    "relapse": "relapse",
    "mri activity": "mri_active",
    "new or enlarging t2 lesions": "mri_new_t2",
    "gd-enhancing lesions": "mri_gd",
    "mri brain": "mri_scan",
}
SUBJECT_FROM = ("person_id", "person_source_value")
MRI_COUNT_COLUMNS = {"mri_new_t2": "new_or_enlarging_t2", "mri_gd": "gd_enhancing"}


def sorted_rows(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    return (
        df.sort_values(by, kind="stable").reset_index(drop=True)
        if len(df)
        else df.reset_index(drop=True)
    )


__all__ = ["MRI_COUNT_COLUMNS", "SOURCE_VALUES", "SUBJECT_FROM", "sorted_rows"]
