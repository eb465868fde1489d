"""The REDCap data dictionary and the mapping file: read and checked before any data.

See :mod:`smoulder.io.redcap` and docs/redcap.md.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from smoulder.exceptions import InputDataError

# dictionary column names: the CSV download's, and the API's
_DICT_COLS = {
    "field": ("variable / field name", "field_name"),
    "form": ("form name", "form_name"),
    "type": ("field type", "field_type"),
    "label": ("field label", "field_label"),
    "choices": ("choices, calculations, or slider labels", "select_choices_or_calculations"),
    "validation": (
        "text validation type or show slider number",
        "text_validation_type_or_show_slider_number",
    ),
}
DATE_VALIDATIONS = (
    "date_ymd",
    "date_dmy",
    "date_mdy",
    "datetime_ymd",
    "datetime_dmy",
    "datetime_mdy",
    "datetime_seconds_ymd",
    "datetime_seconds_dmy",
    "datetime_seconds_mdy",
)
NUMBER_VALIDATIONS = (
    "number",
    "integer",
    "number_1dp",
    "number_2dp",
    "number_1dp_comma_decimal",
    "number_2dp_comma_decimal",
    "number_comma_decimal",
)
CHOICE_TYPES = ("dropdown", "radio", "checkbox", "yesno", "truefalse")
_SPECIAL = {
    "redcap_event_name": "Event Name",
    "redcap_repeat_instrument": "Repeat Instrument",
    "redcap_repeat_instance": "Repeat Instance",
    "redcap_data_access_group": "Data Access Group",
}
#: mapping sections, their keys, and what each key must be ("date", "number", "choice", "any")
SECTIONS: dict[str, dict[str, str]] = {
    "visits": {
        "date": "date",
        "edss": "number",
        "t25fw": "number",
        "nhpt": "number",
        "sdmt": "number",
    },
    "relapses": {"onset": "date", "end": "date"},
    "treatments": {"drug": "any", "start": "date", "stop": "date"},
    "mri": {"date": "date", "active": "flag", "new_t2": "number", "gd": "number"},
    "people": {"sex": "any", "birth_year": "number", "birth_date": "date"},
}
REQUIRED = {
    "visits": ("date",),
    "relapses": ("onset",),
    "treatments": ("drug", "start"),
    "mri": ("date",),
    "people": (),
}


@dataclass(frozen=True)
class Field:
    """One field of the data dictionary."""

    name: str
    form: str
    type: str
    label: str
    choices: dict[str, str]
    validation: str


@dataclass
class Dictionary:
    """A REDCap data dictionary: fields by name, in order."""

    fields: dict[str, Field]
    source: str

    @property
    def record_id(self) -> str:
        return next(iter(self.fields))


def _parse_choices(text: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if not text:
        return out
    for part in str(text).split("|"):
        if "," not in part:
            continue
        code, label = part.split(",", 1)
        out[code.strip()] = label.strip()
    return out


def read_dictionary(path: str | Path) -> Dictionary:
    """Read a data dictionary CSV (the Designer's download or the API's metadata export)."""
    from smoulder.io.outputs import check_input_file

    p = check_input_file(path, "--dictionary", expected="the project's data dictionary CSV")
    df = _read_csv(p, "data dictionary")
    low = {c.strip().lower(): c for c in df.columns}
    cols: dict[str, str] = {}
    for role, names in _DICT_COLS.items():
        found = next((low[n] for n in names if n in low), None)
        if found is None and role in ("field", "form", "type"):
            raise InputDataError(
                f"missing column {names[0].title()!r}",
                file=str(p),
                column=names[0],
                expected="a REDCap data dictionary (Variable / Field Name, Form Name, Field Type, ...)",
            )
        if found is not None:
            cols[role] = found
    fields: dict[str, Field] = {}
    for i, rec in enumerate(df.to_dict("records")):
        name = str(rec[cols["field"]] or "").strip()
        if not name:
            raise InputDataError(
                "empty field name",
                file=str(p),
                row=i + 2,
                column=cols["field"],
                expected="a variable name",
            )

        def get(role: str, rec: dict[str, Any] = rec) -> str:
            return str(rec.get(cols.get(role, ""), "") or "").strip()

        ftype = get("type").lower()
        choices = (
            _parse_choices(get("choices")) if ftype in ("dropdown", "radio", "checkbox") else {}
        )
        if ftype == "yesno":
            choices = {"1": "Yes", "0": "No"}
        elif ftype == "truefalse":
            choices = {"1": "True", "0": "False"}
        fields[name] = Field(
            name, get("form"), ftype, get("label"), choices, get("validation").lower()
        )
    if not fields:
        raise InputDataError(
            "no fields", file=str(p), expected="a data dictionary with at least the record id field"
        )
    return Dictionary(fields, str(p))


def _read_csv(p: Path, what: str) -> pd.DataFrame:
    from smoulder.io.delimited import header_fields, read_arrow_file

    with open(p, "rb") as f:
        head = f.read(1 << 16)
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    names = header_fields(head, ",")
    table = read_arrow_file(p, string_cols=names, what=what)
    df = table.to_pandas()
    df.columns = [str(c).lstrip("\ufeff") for c in df.columns]
    return df.astype(object).where(df.notna(), None)


# ----------------------------------------------------------------------------- mapping
@dataclass
class Mapping:
    """A checked mapping: per section, key -> field name; choice translations; filters."""

    subject: str
    sections: dict[str, dict[str, str]]
    choices: dict[str, dict[str, dict[str, Any]]]
    units: dict[str, str]
    forms: dict[str, str]
    source: str


def _close(name: str, dictionary: Dictionary) -> str:
    close = difflib.get_close_matches(name, list(dictionary.fields), n=3, cutoff=0.6)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def read_mapping(path: str | Path, dictionary: Dictionary) -> Mapping:
    """Read the TOML mapping and check it against the dictionary (fields, types, choices)."""
    from smoulder.io.outputs import check_input_file

    p = check_input_file(path, "--mapping", expected="a TOML mapping file (docs/redcap.md)")
    src = str(p)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputDataError(
            f"not a TOML file ({exc})", file=src, expected="the TOML mapping of docs/redcap.md"
        ) from None
    unknown = set(data) - {"subject", *SECTIONS}
    if unknown:
        raise InputDataError(
            f"unknown section [{sorted(unknown)[0]}]",
            file=src,
            expected="sections subject, " + ", ".join(SECTIONS),
        )
    subj = (
        data.get("subject", {}).get("field", dictionary.record_id)
        if isinstance(data.get("subject"), dict)
        else data.get("subject", dictionary.record_id)
    )
    if subj not in dictionary.fields:
        raise InputDataError(
            f"[subject] field {subj!r} is not in the dictionary{_close(str(subj), dictionary)}",
            file=src,
            expected=f"a field of {dictionary.source}",
        )
    sections: dict[str, dict[str, str]] = {}
    choices: dict[str, dict[str, dict[str, Any]]] = {}
    units: dict[str, str] = {}
    forms: dict[str, str] = {}
    for sec, keys in SECTIONS.items():
        conf = data.get(sec)
        if conf is None:
            continue
        if not isinstance(conf, dict):
            raise InputDataError(f'[{sec}] must be a table of key = "field" lines', file=src)
        fields: dict[str, str] = {}
        for key, val in conf.items():
            if key == "form":
                forms[sec] = str(val)
                known_forms = {f.form for f in dictionary.fields.values()}
                if str(val) not in known_forms:
                    raise InputDataError(
                        f"[{sec}] form {val!r} is not a form of the dictionary",
                        file=src,
                        expected="one of " + ", ".join(sorted(known_forms)),
                    )
                continue
            if key.endswith("_choices"):
                continue
            if key.endswith("_unit"):
                if key[:-5] not in ("t25fw", "nhpt") or val not in ("s", "min"):
                    raise InputDataError(
                        f"[{sec}] {key} = {val!r}",
                        file=src,
                        expected='t25fw_unit or nhpt_unit = "s" or "min"',
                    )
                units[key[:-5]] = str(val)
                continue
            if key not in keys:
                raise InputDataError(
                    f"[{sec}] unknown key {key!r}",
                    file=src,
                    expected="keys " + ", ".join(keys) + ", form, <key>_choices",
                )
            if not isinstance(val, str) or val not in dictionary.fields:
                raise InputDataError(
                    f"[{sec}] {key} = {val!r} is not a field of the dictionary{_close(str(val), dictionary)}",
                    file=src,
                    expected=f"a field name of {dictionary.source}",
                )
            _check_type(
                sec, key, dictionary.fields[val], keys[key], src, conf.get(f"{key}_choices")
            )
            fields[key] = val
        for need in REQUIRED[sec]:
            if need not in fields:
                raise InputDataError(
                    f"[{sec}] has no {need!r} field",
                    file=src,
                    expected=f'{need} = "<field name>" in [{sec}]',
                )
        if sec == "visits" and not any(k in fields for k in ("edss", "t25fw", "nhpt", "sdmt")):
            raise InputDataError(
                "[visits] maps no outcome",
                file=src,
                expected="at least one of edss, t25fw, nhpt, sdmt",
            )
        sections[sec] = fields
        for key in fields:
            cm = conf.get(f"{key}_choices")
            if cm is not None:
                f = dictionary.fields[fields[key]]
                if not isinstance(cm, dict):
                    raise InputDataError(
                        f'[{sec}] {key}_choices must be a table of "code" = value', file=src
                    )
                for code in cm:
                    if str(code) not in f.choices:
                        raise InputDataError(
                            f"[{sec}] {key}_choices: {code!r} is not a choice of {f.name}",
                            file=src,
                            expected="codes of "
                            + f.name
                            + ": "
                            + ", ".join(f"{c} ({lab})" for c, lab in f.choices.items()),
                        )
                choices.setdefault(sec, {})[key] = {str(k): v for k, v in cm.items()}
    if "visits" not in sections:
        raise InputDataError(
            "no [visits] section",
            file=src,
            expected="[visits] with date and at least one outcome field",
        )
    return Mapping(str(subj), sections, choices, units, forms, src)


def _check_type(sec: str, key: str, f: Field, kind: str, src: str, cm: Any) -> None:
    where = f"[{sec}] {key} = {f.name!r}"
    if kind == "date":
        if f.type != "text" or f.validation not in DATE_VALIDATIONS:
            raise InputDataError(
                f"{where} is a {f.type or 'field'} field{' with validation ' + f.validation if f.validation else ''}, not a date",
                file=src,
                expected="a text field with date validation (date_ymd, date_dmy, date_mdy, datetime_...)",
            )
    elif kind == "number":
        if f.type in ("dropdown", "radio"):
            if cm is None and not all(_is_number(lab) for lab in f.choices.values()):
                raise InputDataError(
                    f"{where} is a {f.type} whose labels are not numbers",
                    file=src,
                    expected=f'[{sec}] {key}_choices = {{ "code" = value, ... }} for {f.name}',
                )
        elif not (
            f.type == "calc"
            or (f.type == "text" and f.validation in NUMBER_VALIDATIONS)
            or f.type == "slider"
        ):
            raise InputDataError(
                f"{where} is a {f.type or 'field'} field{' with validation ' + f.validation if f.validation else ''}, not a number",
                file=src,
                expected="a text field with number or integer validation, a calc, or a dropdown/radio with numeric labels",
            )
    elif kind == "flag":
        if f.type in ("dropdown", "radio", "checkbox") and cm is None:
            raise InputDataError(
                f"{where} is a {f.type}: say which choices mean active",
                file=src,
                expected=f'[{sec}] {key}_choices = {{ "code" = true or false, ... }}',
            )
        if f.type not in (*CHOICE_TYPES, "calc") and not (
            f.type == "text" and f.validation in NUMBER_VALIDATIONS
        ):
            raise InputDataError(
                f"{where} is a {f.type or 'field'} field, not yes/no",
                file=src,
                expected="a yesno, truefalse, radio, dropdown or checkbox field, or a lesion count",
            )
    elif kind == "any" and f.type in ("descriptive", "file", "signature"):
        raise InputDataError(
            f"{where} is a {f.type} field", file=src, expected="a text, dropdown or radio field"
        )


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


__all__ = [
    "CHOICE_TYPES",
    "DATE_VALIDATIONS",
    "Dictionary",
    "Field",
    "Mapping",
    "NUMBER_VALIDATIONS",
    "SECTIONS",
    "read_dictionary",
    "read_mapping",
]
