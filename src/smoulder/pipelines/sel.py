"""The SEL pipeline: one subject's time points in, checked, analysed, written.

Used by ``smoulder sel``, the batch runner (:mod:`smoulder.pipelines.sel_batch`), the BIDS App
(:mod:`smoulder.pipelines.bids`) and the Python API alike:

:func:`run`
    reads and checks the images (:mod:`smoulder.io.nifti`) and the dates
    (:func:`smoulder.schema.images.parse_dates`), runs the engine
    (:func:`smoulder.imaging.sel.detect_sel`) and, when ``out`` is given, writes the outputs;
:func:`write`
    writes ``lesions.tsv`` (+ JSON sidecar), ``summary.tsv`` (+ JSON), ``jacobian_<i>.nii.gz``
    (Jacobian determinant of follow-up ``i`` = time point ``i + 1`` against baseline),
    ``expansion.nii.gz``, ``sel_mask.nii.gz`` and ``qc.html``, all on the baseline grid (names
    changeable, see :func:`plan_outputs`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from smoulder.exceptions import SettingsError
from smoulder.imaging.lesions import label_lesions
from smoulder.imaging.sel import SELResult, SELSettings, detect_sel
from smoulder.imaging.sel.qc import qc_html
from smoulder.io import bids as bio
from smoulder.io import nifti
from smoulder.pipelines._auto_lesions import AUTO_MASK_NAME, segment_flair, write_labels
from smoulder.pipelines._files import atomic_outputs, output_plan
from smoulder.pipelines._scanner import ScannerInputs
from smoulder.schema import images as img

#: Default file names of the outputs, by key (``jacobian``: a pattern, see :func:`plan_outputs`).
OUTPUT_NAMES = {
    "table": "lesions.tsv",
    "summary": "summary.tsv",
    "sel_mask": "sel_mask.nii.gz",
    "expansion": "expansion.nii.gz",
    "qc": "qc.html",
    "jacobian": "jacobian_{i}.nii.gz",
}

#: The per-lesion columns of lesions.tsv, with their descriptions for the JSON sidecar.
COLUMN_DESCRIPTIONS: dict[str, Any] = {
    "label": "Lesion label in the baseline lesion mask",
    "n_voxels": "Voxels of the baseline lesion",
    "volume_mm3": {"Description": "Baseline lesion volume", "Units": "mm^3"},
    "centroid_x_mm": {
        "Description": "Baseline lesion centroid, world x (RAS, baseline scanner space)",
        "Units": "mm",
    },
    "centroid_y_mm": {"Description": "Baseline lesion centroid, world y (RAS)", "Units": "mm"},
    "centroid_z_mm": {"Description": "Baseline lesion centroid, world z (RAS)", "Units": "mm"},
    "diameter_mm": {"Description": "Diameter of the sphere of equal volume", "Units": "mm"},
    "expansion_pct_per_year": {
        "Description": "The lesion's own volume change per year relative to the brain's "
        "(atrophy), log-linear fit over all follow-ups, by the measure of "
        "Settings.expansion_measure (default segmented; the Jacobian where it cannot be measured)",
        "Units": "% per year",
    },
    "segmented_expansion_pct_per_year": {
        "Description": "Expansion from the lesion segmented on each visit's rigidly aligned "
        "FLAIR (relative to its own baseline contrast, partial volume counted, over the lesion "
        "and its grown edge, neighbouring lesions left out)",
        "Units": "% per year",
    },
    "jacobian_expansion_pct_per_year": {
        "Description": "Expansion from the corrected Jacobian integrated over the baseline lesion",
        "Units": "% per year",
    },
    "signal_expansion_pct_per_year": {
        "Description": "Expansion from the lesion's excess FLAIR signal over it and its grown edge",
        "Units": "% per year",
    },
    "ring_expansion_pct_per_year": {
        "Description": "Expansion from the corrected Jacobian integrated over the lesion and its "
        "grown edge",
        "Units": "% per year",
    },
    "volume_change_pct": {
        "Description": "Atrophy-corrected lesion volume change from baseline to the last "
        "time point",
        "Units": "%",
    },
    "concentricity": "Share of the lesion boundary moving outward relative to the lesion's mean displacement "
    "(1 concentric growth, ~0.5 stable or one-sided, 0 shrinking)",
    "constancy": "Share of follow-up intervals in which the candidate (or lesion) expanded (n/a: 2 time points)",
    "min_interval_pct_per_year": {
        "Description": "Slowest interval expansion of the candidate (or lesion)",
        "Units": "% per year",
    },
    "candidate_voxels": "Voxels of the SEL candidate (seeded region growing of local expansion)",
    "candidate_volume_mm3": {"Description": "Volume of the SEL candidate", "Units": "mm^3"},
    "candidate_expansion_pct_per_year": {
        "Description": "Expansion of the candidate region",
        "Units": "% per year",
    },
    "t1_change_pct": {
        "Description": "Change of T1 signal inside the candidate (or lesion) relative to the "
        "perilesional white matter, baseline to last time point",
        "Units": "%",
    },
    "sel": "definite | possible | no (rules in docs/sel.md)",
    "note": "Why a lesion is not definite, or could not be measured",
}


def plan_outputs(
    out_dir: str | Path,
    n_followups: int,
    names: Mapping[str, str] | None = None,
    jacobian_labels: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Every output path of a run, decided before any work (``jacobian``: a list, one per follow-up).

    Parameters
    ----------
    out_dir : path
        The output folder (neither created nor checked here).
    n_followups : int
        Number of follow-up time points (one Jacobian map each).
    names : mapping of str to str, optional
        New names of ``table, summary, sel_mask, expansion, qc`` and ``jacobian`` (a pattern
        with ``{i}``, the follow-up number from 1, and ``{label}``). An absolute name is used
        as is.
    jacobian_labels : sequence of str, optional
        One label per follow-up for ``{label}`` (e.g. a BIDS session); default: the number.

    Returns
    -------
    dict
        Path by key, and under ``jacobian`` a list of paths. The tables' JSON sidecars go
        beside them (``.tsv`` -> ``.json``).
    """
    out = Path(out_dir)
    n = {**OUTPUT_NAMES, **(names or {})}
    paths: dict[str, Any] = {k: out / v for k, v in n.items() if k != "jacobian"}
    paths["jacobian"] = [
        out / n["jacobian"].format(i=i, label=jacobian_labels[i - 1] if jacobian_labels else str(i))
        for i in range(1, n_followups + 1)
    ]
    return paths


def resolve_settings(
    settings: SELSettings | Mapping[str, Any] | None = None, **overrides: Any
) -> SELSettings:
    """Settings from an object or a mapping (e.g. a TOML table) plus overrides (None ignored).

    Parameters
    ----------
    settings : SELSettings or mapping, optional
        The base settings (a mapping may nest them under their section); None: the defaults.
    **overrides
        Single settings that win over ``settings``.

    Returns
    -------
    SELSettings

    Raises
    ------
    SettingsError
        An unknown setting or an invalid value.
    """
    if isinstance(settings, SELSettings):
        changes = {k: v for k, v in overrides.items() if v is not None}
        return settings.replace(**changes) if changes else settings
    return SELSettings.from_mapping(settings, **overrides)


def run(
    t1: Sequence[str | Path],
    flair: Sequence[str | Path],
    dates: Sequence[Any],
    lesions: str | Path | None,
    *,
    brain_mask: str | Path | None = None,
    settings: SELSettings | Mapping[str, Any] | None = None,
    out: str | Path | None = None,
    names: Mapping[str, str] | None = None,
    jacobian_labels: Sequence[str] | None = None,
    title: str = "smoulder SEL QC",
    **overrides: Any,
) -> SELResult:
    """Read, check and analyse one subject's time points; write the outputs when ``out`` is given.

    Parameters
    ----------
    t1, flair : sequence of path
        T1-weighted and FLAIR (or T2) NIfTI per time point, in time order. A FLAIR on another
        grid than its T1 is registered to it (``flair_to_t1``); visits may differ in voxel size
        and field of view. Any image may be a DICOM folder instead (converted with dcm2niix).
    dates : sequence
        ISO date (``YYYY-MM-DD``) of each time point, same order, strictly increasing.
    lesions : path or None
        Baseline lesion mask (binary or labelled) on the first T1's or the first FLAIR's grid;
        ``None``: the first FLAIR is segmented by ``smoulder lesions`` (with the first T1), a
        warning says so and the labels used are written to ``out/lesions_auto_dseg.nii.gz``.
    brain_mask : path, optional
        Baseline brain mask (default: voxels where the baseline images are non-zero).
    settings : SELSettings or mapping, optional
        Thresholds and registration parameters; ``overrides`` change single values.
    out : path, optional
        Output directory; nothing is written without it.
    names, jacobian_labels : optional
        Output file names (see :func:`plan_outputs`).
    title : str
        Title of the QC page.

    Returns
    -------
    SELResult

    Examples
    --------
    The tiny two-scan head of :func:`~smoulder.imaging.sel.detect_sel`, as NIfTI files with
    their dates, run file to file (SyN iterations cut down to keep the example quick):

    >>> import pathlib, tempfile
    >>> import nibabel as nib
    >>> import numpy as np
    >>> from scipy import ndimage
    >>> from smoulder.pipelines import sel
    >>> g = np.indices((16, 16, 16)) - 7.5
    >>> r = np.sqrt((g**2).sum(axis=0))
    >>> texture = ndimage.gaussian_filter(np.random.default_rng(0).normal(size=r.shape), 1.0)
    >>> tmp = tempfile.TemporaryDirectory()
    >>> d = pathlib.Path(tmp.name)
    >>> aff = np.diag([2.0, 2.0, 2.0, 1.0])
    >>> for i, radius in enumerate((2.5, 3.0), start=1):
    ...     head = np.where(r <= 7, 100 + 400 * texture, 0) + 150 * (r <= radius)
    ...     nib.save(nib.Nifti1Image(head.astype(np.float32), aff), d / f"scan_{i}.nii.gz")
    >>> nib.save(nib.Nifti1Image((r <= 2.5).astype(np.uint8), aff), d / "lesions.nii.gz")
    >>> scans = [d / "scan_1.nii.gz", d / "scan_2.nii.gz"]
    >>> res = sel.run(
    ...     scans,
    ...     scans,
    ...     ["2021-03-01", "2022-03-01"],
    ...     d / "lesions.nii.gz",
    ...     syn_iterations=(4, 2),
    ...     threads=1,
    ...     out=d / "out",
    ... )
    >>> res.summary[["n_timepoints", "first_date", "last_date", "n_lesions"]].to_dict("records")
    [{'n_timepoints': 2, 'first_date': '2021-03-01', 'last_date': '2022-03-01', 'n_lesions': 1}]
    >>> sorted(p.name for p in (d / "out").iterdir())[:4]
    ['expansion.nii.gz', 'jacobian_1.nii.gz', 'lesions.json', 'lesions.tsv']
    >>> tmp.cleanup()
    """
    t1 = list(t1)
    flair = list(flair)
    if len(t1) < 2:
        raise SettingsError(f"SEL needs at least two time points; got {len(t1)} T1 image(s)")
    if len(flair) != len(t1):
        raise SettingsError(
            f"{len(t1)} T1 images but {len(flair)} FLAIR images; give one of each per time point"
        )
    iso, years = img.parse_dates(dates, len(t1))
    st = resolve_settings(settings, **overrides)
    inputs: dict[str, Any] = {f"--t1 #{i + 1}": p for i, p in enumerate(t1)}
    inputs.update({f"--flair #{i + 1}": p for i, p in enumerate(flair)})
    inputs.update({"--lesions": lesions, "--brain-mask": brain_mask})
    if out is not None:
        planned = plan_outputs(out, len(t1) - 1, names, jacobian_labels)
        bio.check_out_dir(out)
        output_plan(_flat(planned), inputs).check()
    with ScannerInputs() as scan:  # NIfTI files or DICOM folders (converted, then removed)
        t1v = [scan.load(p, f"--t1 #{i + 1}") for i, p in enumerate(t1)]
        flv = [scan.load(p, f"--flair #{i + 1}") for i, p in enumerate(flair)]
        lv = None if lesions is None else scan.load(lesions, "--lesions", labels=True)
        bv = None if brain_mask is None else scan.load(brain_mask, "--brain-mask", labels=True)
    auto = None
    if lv is None:  # no mask: the baseline FLAIR segmented by smoulder lesions
        auto = segment_flair(flv[0], t1=t1v[0])
        lv = flv[0].like(auto.labels, source="<smoulder lesions>")
    labels, _ = label_lesions(lv.data, lv.zooms, split=False)
    lab = img.Volume(labels, lv.affine, lv.source)
    result = detect_sel(t1v, flv, [float(y) for y in years], lab, brain=bv, settings=st, dates=iso)
    if auto is not None:
        result.warnings.append(auto.message)
    if out is not None:
        write(result, out, names=names, jacobian_labels=jacobian_labels, title=title, inputs=inputs)
        if auto is not None:
            write_labels(Path(out) / AUTO_MASK_NAME, flv[0], auto.labels)
    return result


def _flat(paths: Mapping[str, Any]) -> list[Path]:
    """Every planned file (the Jacobian maps are a list)."""
    out: list[Path] = []
    for v in paths.values():
        out.extend(v if isinstance(v, list) else [v])
    return out


def _meta(result: SELResult) -> dict[str, Any]:
    return {
        "GeneratedBy": [{"Name": "smoulder", "Version": result.version}],
        "Settings": result.settings.model_dump(),
        "Dates": result.dates,
        "Warnings": result.warnings,
        "MethodsParagraph": result.methods(),
        "Note": "Evidence for rating, not a diagnosis.",
    }


def write(
    result: SELResult,
    out: str | Path,
    *,
    names: Mapping[str, str] | None = None,
    jacobian_labels: Sequence[str] | None = None,
    title: str = "smoulder SEL QC",
    inputs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write every output of a result and return the paths by key (see :func:`plan_outputs`).

    Every file is written all or nothing, and none may be one of the ``inputs`` (flag -> path).

    Parameters
    ----------
    result : SELResult
        What :func:`run` returned.
    out : path
        The output folder (created if missing).
    names : mapping of str to str, optional
        Output file names by key (see :func:`plan_outputs`).
    jacobian_labels : sequence of str, optional
        Labels of the follow-ups in the Jacobian file names.
    title : str
        Title of the QC page.
    inputs : mapping of str to path, optional
        The files read (flag -> path), which no output may overwrite.

    Returns
    -------
    dict
        The paths by key, as :func:`plan_outputs` gives them.

    Raises
    ------
    InputDataError
        ``out`` exists and is not a folder.
    OutputError
        An output would overwrite an input or cannot be written (nothing is then written).
    """
    paths = plan_outputs(out, len(result.jacobian), names, jacobian_labels)
    bio.check_out_dir(out)
    base = img.Volume(result.sel_mask, result.affine)
    meta = _meta(result)
    cols = {c: COLUMN_DESCRIPTIONS.get(c, c) for c in result.lesions.columns}
    with atomic_outputs(_flat(paths), inputs) as st:
        bio.write_tsv(result.lesions, st.path(paths["table"]), {**cols, **meta})
        # step timings stay out of the files, so two runs write identical outputs
        details = {
            **meta,
            "Details": {
                k: v for k, v in result.details.items() if k not in ("seconds", "cpu_seconds")
            },
        }
        bio.write_tsv(result.summary, st.path(paths["summary"]), details)
        sel_mask = result.sel_mask.astype(np.uint8)
        nifti.save_volume(st.path(paths["sel_mask"]), base, sel_mask, np.uint8)
        expansion = result.expansion.astype(np.float32)
        nifti.save_volume(st.path(paths["expansion"]), base, expansion, np.float32)
        for p, j in zip(paths["jacobian"], result.jacobian, strict=True):
            nifti.save_volume(st.path(p), base, j.astype(np.float32), np.float32)
        bio.write_text(st.path(paths["qc"]), qc_html(result, title=title))
    return paths


__all__ = [
    "OUTPUT_NAMES",
    "COLUMN_DESCRIPTIONS",
    "plan_outputs",
    "resolve_settings",
    "run",
    "write",
]
