"""A small hand-written REDCap project: data dictionary, raw and label exports, mapping."""

from __future__ import annotations

from pathlib import Path

DICTIONARY = """"Variable / Field Name","Form Name","Section Header","Field Type","Field Label","Choices, Calculations, OR Slider Labels","Field Note","Text Validation Type OR Show Slider Number","Text Validation Min","Text Validation Max","Identifier?","Branching Logic (Show field only if...)","Required Field?","Custom Alignment","Question Number (surveys only)","Matrix Group Name","Matrix Ranking?","Field Annotation"
record_id,demographics,,text,"Record ID",,,,,,,,,,,,,
sex,demographics,,radio,"Sex","1, Female | 2, Male",,,,,,,,,,,,
birth_year,demographics,,text,"Year of birth",,,integer,1900,2030,,,,,,,,
visit_date,clinic_visit,,text,"Visit date",,,date_dmy,,,,,,,,,,
edss,clinic_visit,,dropdown,"EDSS","0, 0 | 1, 1.0 | 2, 1.5 | 3, 2.0 | 4, 2.5 | 5, 3.0 | 6, 3.5 | 7, 4.0",,,,,,,,,,,,
t25fw,clinic_visit,,text,"Timed 25-foot walk (s)",,,number,,,,,,,,,,
sdmt,clinic_visit,,text,"SDMT correct",,,integer,0,110,,,,,,,,
notes,clinic_visit,,notes,"Notes",,,,,,,,,,,,,
relapse_onset,relapse,,text,"Relapse onset",,,date_ymd,,,,,,,,,,
relapse_end,relapse,,text,"Relapse end",,,date_ymd,,,,,,,,,,
dmt,treatment,,dropdown,"Therapy","1, Ocrevus | 2, Tecfidera | 3, Other",,,,,,,,,,,,
dmt_start,treatment,,text,"Therapy start",,,date_mdy,,,,,,,,,,
dmt_stop,treatment,,text,"Therapy stop",,,date_mdy,,,,,,,,,,
mri_date,mri,,text,"MRI date",,,date_ymd,,,,,,,,,,
mri_findings,mri,,checkbox,"MRI findings","1, New or enlarging T2 lesion | 2, Gadolinium-enhancing lesion | 3, None",,,,,,,,,,,,
mri_new_t2,mri,,text,"New T2 lesions",,,integer,0,,,,,,,,,
"""

# raw headers and values; longitudinal events; repeating relapse/treatment/mri instruments;
# dates: visit dates re-saved as DD-MM-YYYY (date_dmy), therapy dates as MM/DD/YYYY (date_mdy)
RAW = """record_id,redcap_event_name,redcap_repeat_instrument,redcap_repeat_instance,sex,birth_year,visit_date,edss,t25fw,sdmt,notes,relapse_onset,relapse_end,dmt,dmt_start,dmt_stop,mri_date,mri_findings___1,mri_findings___2,mri_findings___3,mri_new_t2
1,baseline_arm_1,,,1,1980,15-01-2020,3,6.1,50,,,,,,,,0,0,0,
1,baseline_arm_1,relapse,1,,,,,,,,2020-03-20,2020-04-05,,,,,0,0,0,
1,baseline_arm_1,treatment,1,,,,,,,,,,1,02/01/2020,,,0,0,0,
1,baseline_arm_1,mri,1,,,,,,,,,,,,,2020-04-10,1,0,0,2
1,year_1_arm_1,,,,,2020-07-20,5,7.0,48,"walks with a stick",,,,,,,0,0,0,
1,year_1_arm_1,mri,1,,,,,,,,,,,,,2021-01-12,0,0,1,0
2,baseline_arm_1,,,2,1975,01-03-2021,7,,44,,,,,,,,0,0,0,
2,baseline_arm_1,treatment,1,,,,,,,,,,2,03/15/2021,09/30/2021,,0,0,0,
2,year_1_arm_1,,,,,,,,,,,,,,,,0,0,0,
"""

# the same records exported with label headers and label values ("CSV (labels)")
LABELS = """Record ID,Event Name,Repeat Instrument,Repeat Instance,Sex,Year of birth,Visit date,EDSS,Timed 25-foot walk (s),SDMT correct,Notes,Relapse onset,Relapse end,Therapy,Therapy start,Therapy stop,MRI date,MRI findings (choice=New or enlarging T2 lesion),MRI findings (choice=Gadolinium-enhancing lesion),MRI findings (choice=None),New T2 lesions
1,Baseline (Arm 1: Arm 1),,,Female,1980,2020-01-15,2.0,6.1,50,,,,,,,,Unchecked,Unchecked,Unchecked,
1,Baseline (Arm 1: Arm 1),Relapse,1,,,,,,,,2020-03-20,2020-04-05,,,,,Unchecked,Unchecked,Unchecked,
1,Baseline (Arm 1: Arm 1),Treatment,1,,,,,,,,,,Ocrevus,2020-02-01,,,Unchecked,Unchecked,Unchecked,
1,Baseline (Arm 1: Arm 1),Mri,1,,,,,,,,,,,,,2020-04-10,Checked,Unchecked,Unchecked,2
1,Year 1 (Arm 1: Arm 1),,,,,2020-07-20,3.0,7.0,48,walks with a stick,,,,,,,Unchecked,Unchecked,Unchecked,
1,Year 1 (Arm 1: Arm 1),Mri,1,,,,,,,,,,,,,2021-01-12,Unchecked,Unchecked,Checked,0
2,Baseline (Arm 1: Arm 1),,,Male,1975,2021-03-01,4.0,,44,,,,,,,,Unchecked,Unchecked,Unchecked,
2,Baseline (Arm 1: Arm 1),Treatment,1,,,,,,,,,,Tecfidera,2021-03-15,2021-09-30,,Unchecked,Unchecked,Unchecked,
2,Year 1 (Arm 1: Arm 1),,,,,,,,,,,,,,,,Unchecked,Unchecked,Unchecked,
"""

MAPPING = """[subject]
field = "record_id"

[visits]
date = "visit_date"
edss = "edss"
t25fw = "t25fw"
sdmt = "sdmt"

[relapses]
onset = "relapse_onset"
end = "relapse_end"

[treatments]
drug = "dmt"
start = "dmt_start"
stop = "dmt_stop"

[mri]
date = "mri_date"
active = "mri_findings"
new_t2 = "mri_new_t2"
active_choices = { "1" = true, "2" = true, "3" = false }

[people]
sex = "sex"
birth_year = "birth_year"
sex_choices = { "1" = "f", "2" = "m" }
"""


def write_project(
    folder: Path, *, export: str = RAW, mapping: str = MAPPING, dictionary: str = DICTIONARY
) -> tuple[Path, Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = (folder / "export.csv", folder / "dictionary.csv", folder / "mapping.toml")
    for p, text in zip(paths, (export, dictionary, mapping), strict=True):
        p.write_text(text, encoding="utf-8")
    return paths
