"""A small hand-written OMOP CDM v5.4 extract with the quirks of real ones (written per test)."""

from __future__ import annotations

from pathlib import Path

# Tab-separated, upper-case file and column names (as OHDSI tools and Athena write them),
# concept ids as integers and once as '8532.0', dates and datetimes mixed, optional columns absent.
PERSON = """PERSON_ID\tGENDER_CONCEPT_ID\tYEAR_OF_BIRTH\tRACE_CONCEPT_ID\tETHNICITY_CONCEPT_ID\tPERSON_SOURCE_VALUE
101\t8532.0\t1980\t0\t0\tMS-0007
102\t8507\t1975\t0\t0\tMS-0012
"""

VISIT = """VISIT_OCCURRENCE_ID\tPERSON_ID\tVISIT_CONCEPT_ID\tVISIT_START_DATE\tVISIT_END_DATE\tVISIT_TYPE_CONCEPT_ID
1\t101\t9202\t2020-01-15\t2020-01-15\t32817
2\t101\t9202\t2020-07-20\t2020-07-20\t32817
3\t102\t9202\t2021-03-01\t2021-03-01\t32817
"""

# row 2: EDSS by local concept, date only; row 3: EDSS with a datetime and no date; row 4: EDSS
# with no date but a visit link (visit 2 = 2020-07-20); row 5: T25FW in minutes (0.1 min = 6 s);
# row 6: concept 0 with source value '9HPT' in seconds; row 7: a lab value of another concept
# (skipped, counted); row 8: SDMT by source value; row 9: EDSS of person 102; row 10: MRI activity
# yes (value_as_concept_id); row 11: new T2 lesion count 2; row 12: MRI activity no.
MEASUREMENT = """MEASUREMENT_ID\tPERSON_ID\tMEASUREMENT_CONCEPT_ID\tMEASUREMENT_DATE\tMEASUREMENT_DATETIME\tMEASUREMENT_TYPE_CONCEPT_ID\tVALUE_AS_NUMBER\tVALUE_AS_CONCEPT_ID\tUNIT_CONCEPT_ID\tVISIT_OCCURRENCE_ID\tMEASUREMENT_SOURCE_VALUE\tUNIT_SOURCE_VALUE
1\t101\t2070000001\t2020-01-15\t\t32817\t2.0\t\t\t1\tEDSS\t
2\t101\t2070000001\t\t2020-04-02 09:30:00\t32817\t2.5\t\t\t\tEDSS\t
3\t101\t2070000001\t\t\t32817\t3.5\t\t\t2\tedss\t
4\t101\t2070000002\t2020-01-15\t\t32817\t0.1\t\t8550\t1\tT25FW\tmin
5\t101\t0\t2020-01-15\t\t32817\t21.5\t\t8555\t1\t9HPT\ts
6\t101\t3004249\t2020-01-15\t\t32817\t120\t\t8876\t1\tSBP\tmmHg
7\t102\t0\t2021-03-01\t\t32817\t48\t\t\t3\tSDMT\t
8\t102\t2070000001\t2021-03-01\t\t32817\t4.0\t\t\t3\tEDSS\t
9\t101\t2070000021\t2020-04-10\t\t32817\t\t4188539\t\t\tMRI activity\t
10\t101\t2070000022\t2020-04-10\t\t32817\t2\t\t\t\tnew or enlarging T2 lesions\t
11\t102\t2070000021\t2021-02-20\t\t32817\t\t4188540\t\t\tMRI activity\t
"""

CONDITION = """CONDITION_OCCURRENCE_ID\tPERSON_ID\tCONDITION_CONCEPT_ID\tCONDITION_START_DATE\tCONDITION_END_DATE\tCONDITION_TYPE_CONCEPT_ID\tCONDITION_SOURCE_VALUE
1\t101\t2070000010\t2020-03-20\t2020-04-05\t32817\tMS relapse
2\t101\t374919\t2015-06-01\t\t32817\tG35
3\t102\t0\t2021-01-10\t\t32817\tMS relapse
"""

# a clinical drug concept (not the ingredient) resolved through CONCEPT_ANCESTOR; a brand name as
# source value with concept 0; a non-DMT drug (paracetamol) left out
DRUG = """DRUG_EXPOSURE_ID\tPERSON_ID\tDRUG_CONCEPT_ID\tDRUG_EXPOSURE_START_DATE\tDRUG_EXPOSURE_END_DATE\tVERBATIM_END_DATE\tDRUG_TYPE_CONCEPT_ID\tDRUG_SOURCE_VALUE
1\t101\t40000001\t2020-02-01\t2020-02-01\t\t32817\tTYSABRI 300MG
2\t102\t0\t2021-02-01\t2021-09-30\t2021-09-30\t32817\tOcrevus
3\t102\t1125315\t2021-02-03\t2021-02-03\t2021-02-03\t32817\tparacetamol 500mg
"""

ANCESTOR = """ANCESTOR_CONCEPT_ID\tDESCENDANT_CONCEPT_ID\tMIN_LEVELS_OF_SEPARATION\tMAX_LEVELS_OF_SEPARATION
735843\t40000001\t1\t1
"""

PROCEDURE = """PROCEDURE_OCCURRENCE_ID\tPERSON_ID\tPROCEDURE_CONCEPT_ID\tPROCEDURE_DATE\tPROCEDURE_TYPE_CONCEPT_ID\tPROCEDURE_SOURCE_VALUE
1\t101\t2070000020\t2020-04-10\t32817\tMRI brain
2\t102\t2070000020\t2021-02-20\t32817\tMRI brain
3\t102\t2070000020\t2021-08-20\t32817\tMRI brain
"""

FILES = {
    "PERSON.csv": PERSON,
    "VISIT_OCCURRENCE.csv": VISIT,
    "MEASUREMENT.csv": MEASUREMENT,
    "CONDITION_OCCURRENCE.csv": CONDITION,
    "DRUG_EXPOSURE.csv": DRUG,
    "CONCEPT_ANCESTOR.csv": ANCESTOR,
    "PROCEDURE_OCCURRENCE.csv": PROCEDURE,
}


def write_extract(folder: Path, **replace: str) -> Path:
    """Write the extract into ``folder`` (``replace`` swaps a file's text by its name)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in {**FILES, **replace}.items():
        if text:
            (folder / name).write_text(text, encoding="utf-8")
    return folder
