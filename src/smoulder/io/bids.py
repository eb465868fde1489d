"""BIDS in and out for the imaging pipelines: input discovery (pybids), derivative names, TSV tables.

PRL inputs per subject (and session):

- FLAIR: ``anat/*_FLAIR.nii[.gz]`` in the raw dataset.
- QSM (default): ``*_Chimap.nii[.gz]`` (the BIDS suffix of susceptibility maps,
  in ppm), usually in a derivatives dataset (e.g. QSMxT output) given with
  ``derivatives``.
- Phase (``susceptibility="phase"``): ``*_part-phase_*.nii[.gz]`` whose ``desc``
  entity equals ``phase_desc`` (default ``hpfilt``): unwrapped, high-pass
  filtered phase in radians. Raw multi-echo phase is not accepted.
- Lesion mask (optional): a ``*_mask`` or ``*_dseg`` file whose ``label`` or
  ``desc`` entity contains "lesion" (any case), e.g.
  ``sub-01_label-lesion_mask.nii.gz``; without one the labelled FLAIR fallback runs.

SEL inputs per subject, one session per time point:

- ``ses-<label>/anat/*_T1w.nii[.gz]`` and ``*_FLAIR.nii[.gz]`` (exactly one of each per session);
- the session dates: ``acq_time`` in ``sub-<label>/sub-<label>_sessions.tsv`` (preferred), or
  else ``acq_time`` of the T1w in the session's ``*_scans.tsv``; ISO 8601;
- a lesion mask of the *first* session: a ``*_mask`` or ``*_dseg`` whose ``label`` or
  ``desc`` entity contains "lesion" (raw dataset or a ``derivatives`` folder);
- optionally a brain mask of the first session (``desc-brain_mask``).

Sessions are ordered by date (not by label). The derivative file names of each analysis are
given by :func:`prl_derivative_names` and :func:`sel_derivative_names`; :func:`write_tsv` is the
one writer of every imaging table (``n/a`` for missing values, ``true``/``false`` for booleans,
a JSON sidecar beside it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from smoulder import __version__
from smoulder.exceptions import InputDataError, SettingsError

NII = [".nii", ".nii.gz"]


@dataclass
class SubjectInputs:
    """The files found for one subject/session."""

    subject: str
    session: str | None
    flair: str
    susceptibility: str
    lesions: str | None

    @property
    def prefix(self) -> str:
        """File-name prefix of the outputs: ``sub-<label>[_ses-<label>]``."""
        return f"sub-{self.subject}" + (f"_ses-{self.session}" if self.session else "")

    @property
    def anat_dir(self) -> str:
        """Folder of the outputs inside the derivatives: ``sub-<label>[/ses-<label>]/anat``."""
        return f"sub-{self.subject}" + (f"/ses-{self.session}" if self.session else "") + "/anat"


def layout(bids_dir: Path, derivatives: list[Path]) -> Any:
    """A pybids layout of a raw dataset and its derivatives (each must have a dataset_description)."""
    from bids import BIDSLayout

    if not (bids_dir / "dataset_description.json").exists():
        raise InputDataError(
            "not a BIDS dataset (no dataset_description.json)",
            file=str(bids_dir),
            expected="the root folder of a BIDS dataset",
        )
    for d in derivatives:
        if not (d / "dataset_description.json").exists():
            raise InputDataError(
                "derivatives folder has no dataset_description.json",
                file=str(d),
                expected="a BIDS derivatives dataset (with DatasetType 'derivative')",
            )
    return BIDSLayout(
        str(bids_dir), validate=False, derivatives=[str(d) for d in derivatives] or False
    )


def one_file(files: list[Any], what: str, where: str) -> str | None:
    """The path of the single file found, None for none; several are an error naming them."""
    paths = sorted({f.path for f in files})
    if len(paths) > 1:
        raise InputDataError(
            f"{len(paths)} candidate {what} images for {where}",
            file=paths[0],
            value=[Path(p).name for p in paths],
            expected=f"exactly one {what} per subject/session (remove or rename the others)",
        )
    return paths[0] if paths else None


def find_inputs(
    bids_dir: str | Path,
    *,
    participant_labels: list[str] | None = None,
    derivatives: list[str | Path] | None = None,
    susceptibility: str = "qsm",
    phase_desc: str = "hpfilt",
    exclude_dir: str | Path | None = None,
) -> list[SubjectInputs]:
    """Discover each subject/session's FLAIR, phase or QSM, and lesion mask with pybids.

    Subjects without a FLAIR are skipped only if not asked for by label; a
    requested subject without the needed images is an error naming it. Files
    under ``exclude_dir`` (the output folder) are never taken as inputs, so a
    rerun does not read its own previous lesion labels as a user mask.
    """
    excluded = Path(exclude_dir).resolve() if exclude_dir is not None else None

    def keep(files: list[Any]) -> list[Any]:
        if excluded is None:
            return files
        return [f for f in files if not Path(f.path).resolve().is_relative_to(excluded)]

    if susceptibility not in ("qsm", "phase"):
        raise SettingsError(f"susceptibility must be 'qsm' or 'phase', got {susceptibility!r}")
    bids_dir = Path(bids_dir)
    lay = layout(bids_dir, [Path(d) for d in (derivatives or [])])
    subjects = sorted(lay.get_subjects())
    wanted = (
        [lab.removeprefix("sub-") for lab in participant_labels] if participant_labels else subjects
    )
    missing = [s for s in wanted if s not in subjects]
    if missing:
        raise InputDataError(
            "participant not in the dataset",
            file=str(bids_dir),
            value=f"sub-{missing[0]}",
            expected=f"one of {', '.join('sub-' + s for s in subjects) or '(none)'}",
        )
    found = []
    for sub in wanted:
        sessions = lay.get_sessions(subject=sub) or [None]
        for ses in sessions:
            q: dict[str, Any] = {"subject": sub, "extension": NII}
            if ses is not None:
                q["session"] = ses
            where = f"sub-{sub}" + (f" ses-{ses}" if ses else "")
            flair = one_file(keep(lay.get(suffix="FLAIR", **q)), "FLAIR", where)
            if flair is None:
                if participant_labels:
                    raise InputDataError(
                        f"no FLAIR image for {where}",
                        file=str(bids_dir),
                        expected=f"{where.replace(' ', '/')}/anat/*_FLAIR.nii.gz",
                    )
                continue
            if susceptibility == "qsm":
                susc = one_file(keep(lay.get(suffix="Chimap", **q)), "QSM (Chimap)", where)
                hint = "a *_Chimap.nii.gz map in ppm (raw dataset or --derivatives)"
            else:
                susc = one_file(keep(lay.get(part="phase", desc=phase_desc, **q)), "phase", where)
                hint = f"a *_part-phase_desc-{phase_desc}_*.nii.gz phase (unwrapped, high-pass filtered, radians)"
            if susc is None:
                raise InputDataError(
                    f"no {susceptibility} image for {where}", file=str(bids_dir), expected=hint
                )
            masks = [
                f
                for f in keep(lay.get(**q))
                if f.entities.get("suffix") in ("mask", "dseg")
                and any("lesion" in str(f.entities.get(k, "")).lower() for k in ("label", "desc"))
            ]
            lesions = one_file(masks, "lesion mask", where)
            found.append(SubjectInputs(sub, ses, flair, susc, lesions))
    return found


def dataset_description(
    bids_dir: str | Path,
    name: str = "smoulder paramagnetic rim lesions",
    description: str = "PRL detection: spatial rim features + consensus rule or trained model",
) -> dict[str, Any]:
    """The derivative dataset's description (BIDS 1.9 ``GeneratedBy``); shared by every analysis.

    :data:`SEL_DESCRIPTION` holds the name and description of the SEL derivatives.
    """
    return {
        "Name": name,
        "BIDSVersion": "1.9.0",
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "smoulder", "Version": __version__, "Description": description}],
        "SourceDatasets": [{"URL": Path(bids_dir).resolve().as_uri()}],
    }


@dataclass
class LongitudinalInputs:
    """One subject's sessions in time order."""

    subject: str
    sessions: list[str]
    dates: list[str]
    t1: list[str]
    flair: list[str]
    lesions: str | None
    brain_mask: str | None = None

    @property
    def prefix(self) -> str:
        """File-name prefix of the outputs: the subject and its first session."""
        return f"sub-{self.subject}_ses-{self.sessions[0]}"

    @property
    def anat_dir(self) -> str:
        """Folder of the outputs: the first session's ``anat``."""
        return f"sub-{self.subject}/ses-{self.sessions[0]}/anat"


def _session_dates(
    bids_dir: Path, subject: str, sessions: list[str], t1: dict[str, str]
) -> dict[str, str]:
    dates: dict[str, str] = {}
    st = bids_dir / f"sub-{subject}" / f"sub-{subject}_sessions.tsv"
    if st.exists():
        df = read_text_table(
            st, expected="a sessions table with session_id and acq_time columns", dtype=str
        )
        if "session_id" in df.columns and "acq_time" in df.columns:
            for _, r in df.iterrows():
                ses = str(r["session_id"]).removeprefix("ses-")
                if r["acq_time"].strip() and r["acq_time"].strip() != "n/a":
                    dates[ses] = r["acq_time"].strip()[:10]
    for ses in sessions:
        if ses in dates:
            continue
        scans = bids_dir / f"sub-{subject}" / f"ses-{ses}" / f"sub-{subject}_ses-{ses}_scans.tsv"
        if scans.exists():
            df = read_text_table(
                scans, expected="a scans table with filename and acq_time columns", dtype=str
            )
            if "filename" in df.columns and "acq_time" in df.columns:
                name = Path(t1[ses]).name
                hit = df[[Path(f).name == name for f in df["filename"]]]
                if len(hit) and hit["acq_time"].iloc[0].strip() not in ("", "n/a"):
                    dates[ses] = hit["acq_time"].iloc[0].strip()[:10]
        if ses not in dates:
            raise InputDataError(
                f"no date for sub-{subject} ses-{ses}",
                file=str(st),
                expected="acq_time (ISO 8601) per session in sub-<label>_sessions.tsv, or for the "
                "T1w in the session's _scans.tsv",
            )
    return dates


def find_longitudinal_inputs(
    bids_dir: str | Path,
    participant_label: str,
    *,
    sessions: list[str] | None = None,
    derivatives: list[str | Path] | None = None,
) -> LongitudinalInputs:
    """Discover one subject's T1w, FLAIR, dates and first-session lesion mask with pybids."""
    root = Path(bids_dir)
    lay = layout(root, [Path(d) for d in (derivatives or [])])
    sub = participant_label.removeprefix("sub-")
    if sub not in lay.get_subjects():
        raise InputDataError(
            "participant not in the dataset",
            file=str(root),
            value=f"sub-{sub}",
            expected=", ".join("sub-" + s for s in sorted(lay.get_subjects())) or "(none)",
        )
    all_ses = sorted(lay.get_sessions(subject=sub))
    wanted = [s.removeprefix("ses-") for s in sessions] if sessions else all_ses
    missing = [s for s in wanted if s not in all_ses]
    if missing:
        raise InputDataError(
            f"session not found for sub-{sub}",
            file=str(root),
            value=f"ses-{missing[0]}",
            expected=", ".join("ses-" + s for s in all_ses) or "sessions (ses-<label> folders)",
        )
    if len(wanted) < 2:
        raise InputDataError(
            f"sub-{sub} has {len(wanted)} session(s)",
            file=str(root),
            expected="at least two sessions (time points) for slowly expanding lesions",
        )
    t1: dict[str, str] = {}
    fl: dict[str, str] = {}
    for ses in wanted:
        where = f"sub-{sub} ses-{ses}"
        q: dict[str, Any] = {"subject": sub, "session": ses, "extension": NII}
        t = one_file(lay.get(suffix="T1w", **q), "T1w", where)
        f = one_file(lay.get(suffix="FLAIR", **q), "FLAIR", where)
        if t is None or f is None:
            raise InputDataError(
                f"no {'T1w' if t is None else 'FLAIR'} image for {where}",
                file=str(root),
                expected=f"sub-{sub}/ses-{ses}/anat/*_{'T1w' if t is None else 'FLAIR'}.nii.gz",
            )
        t1[ses], fl[ses] = t, f
    dates = _session_dates(root, sub, wanted, t1)
    order = sorted(wanted, key=lambda s: dates[s])
    first = order[0]
    q = {"subject": sub, "session": first, "extension": NII}
    masks = [
        x
        for x in lay.get(**q)
        if x.entities.get("suffix") in ("mask", "dseg")
        and any("lesion" in str(x.entities.get(k, "")).lower() for k in ("label", "desc"))
    ]
    # no lesion mask: SEL segments the first FLAIR itself (smoulder.pipelines._auto_lesions)
    lesions = one_file(masks, "lesion mask", f"sub-{sub} ses-{first}")
    brains = [
        x
        for x in lay.get(**q)
        if x.entities.get("suffix") == "mask" and str(x.entities.get("desc", "")).lower() == "brain"
    ]
    brain = one_file(brains, "brain mask", f"sub-{sub} ses-{first}")
    return LongitudinalInputs(
        subject=sub,
        sessions=order,
        dates=[dates[s] for s in order],
        t1=[t1[s] for s in order],
        flair=[fl[s] for s in order],
        lesions=lesions,
        brain_mask=brain,
    )


#: ``dataset_description`` name and description of the SEL derivatives.
SEL_DESCRIPTION = (
    "smoulder slowly expanding lesions",
    "SEL detection: halfway-space alignment, SyN Jacobians corrected for atrophy, seeded "
    "candidates, concentricity and constancy",
)


def longitudinal_subjects(
    bids_dir: str | Path, derivatives: list[str | Path] | None = None
) -> list[str]:
    """Every subject with two or more sessions (labels without ``sub-``)."""
    lay = layout(Path(bids_dir), [Path(d) for d in (derivatives or [])])
    labels = [sub for sub in sorted(lay.get_subjects()) if len(lay.get_sessions(subject=sub)) >= 2]
    if not labels:
        raise InputDataError(
            "no subject with two or more sessions",
            file=str(bids_dir),
            expected="sub-<label>/ses-<label>/anat/ folders, one session per time point",
        )
    return labels


def prl_derivative_names(si: SubjectInputs, out_dir: str | Path) -> dict[str, str]:
    """BIDS Derivative names of one subject/session's PRL outputs (QC page at the top level)."""
    out = Path(out_dir)
    return {
        "table": f"{si.prefix}_desc-lesions_stats.tsv",
        "dseg": f"{si.prefix}_desc-lesions_dseg.nii.gz",
        "prl_mask": f"{si.prefix}_desc-prl_mask.nii.gz",
        "qc": str((out / f"{si.prefix}_desc-prl_qc.html").resolve()),
    }


def sel_derivative_names(li: LongitudinalInputs, out_dir: str | Path) -> dict[str, str]:
    """BIDS Derivative names of one subject's SEL outputs (``{label}``: the follow-up session)."""
    out = Path(out_dir)
    p = li.prefix
    return {
        "table": f"{p}_desc-sel_stats.tsv",
        "summary": f"{p}_desc-selsummary_stats.tsv",
        "sel_mask": f"{p}_desc-sel_mask.nii.gz",
        "expansion": f"{p}_desc-expansion_map.nii.gz",
        "qc": str((out / f"sub-{li.subject}_desc-sel_qc.html").resolve()),
        "jacobian": f"{p}_desc-jacobian{{label}}_map.nii.gz",
    }


def to_bids_table(df: pd.DataFrame) -> pd.DataFrame:
    """Booleans as ``true``/``false`` text (BIDS-like); numbers and text as they are."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == bool:
            out[c] = out[c].map({True: "true", False: "false"})
    return out


def write_tsv(df: pd.DataFrame, path: str | Path, sidecar: dict[str, Any] | None = None) -> Path:
    """Write a TSV (``n/a`` for missing values, 6 significant digits) and its JSON sidecar."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    to_bids_table(df).to_csv(p, sep="\t", index=False, na_rep="n/a", float_format="%.6g")
    if sidecar is not None:
        write_json(p.with_suffix("").with_suffix(".json"), sidecar)
    return p


def write_json(path: str | Path, obj: Any) -> Path:
    """Write indented JSON (values JSON cannot hold are written as text)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(obj, indent=2, default=str))
    return p


def write_text(path: str | Path, text: str) -> Path:
    """Write a text file (UTF-8), e.g. a QC page."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def read_tsv(path: str | Path) -> pd.DataFrame:
    """Read a TSV this package wrote (``n/a`` is missing; empty cells stay text)."""
    return read_text_table(path, expected="a TSV written by smoulder", na_values=["n/a"])


def read_text_table(
    path: str | Path,
    *,
    expected: str,
    sep: str | None = None,
    na_values: list[str] | None = None,
    keep_default_na: bool = False,
    **kwargs: Any,
) -> pd.DataFrame:
    """Read a TSV (or, by extension, CSV) table a user gave; every failure names the file.

    Only ``na_values`` (and pandas' defaults with ``keep_default_na``) are read as missing. A
    missing file, a directory, binary content and malformed rows become
    :class:`~smoulder.exceptions.InputDataError` with ``expected`` in the message.
    """
    p = str(path)
    if not Path(p).exists():
        raise InputDataError("file not found", file=p, expected=expected)
    if Path(p).is_dir():
        raise InputDataError("is a directory", file=p, expected=expected)
    if sep is None:
        sep = "," if p.lower().endswith(".csv") else "\t"
    try:
        return pd.read_csv(
            p, sep=sep, na_values=na_values, keep_default_na=keep_default_na, **kwargs
        )
    except UnicodeDecodeError:
        raise InputDataError(
            "not a text table (cannot be read as UTF-8 text)", file=p, expected=expected
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputDataError(
            f"cannot be read as a table ({str(exc).strip()})", file=p, expected=expected
        ) from None


def check_out_dir(out_dir: str | Path) -> None:
    """Fail before any work when the output path exists and is not a directory."""
    p = Path(out_dir)
    if p.exists() and not p.is_dir():
        raise InputDataError(
            "output path exists and is not a directory", file=str(p), expected="a directory"
        )


__all__ = [
    "NII",
    "SubjectInputs",
    "LongitudinalInputs",
    "layout",
    "one_file",
    "find_inputs",
    "find_longitudinal_inputs",
    "longitudinal_subjects",
    "dataset_description",
    "SEL_DESCRIPTION",
    "prl_derivative_names",
    "sel_derivative_names",
    "to_bids_table",
    "write_tsv",
    "write_json",
    "write_text",
    "read_tsv",
    "read_text_table",
    "check_out_dir",
]
