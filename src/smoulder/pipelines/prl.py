"""The PRL pipeline: files in, checked, aligned, labelled, analysed, written.

Used by ``smoulder prl``, the BIDS App (:mod:`smoulder.pipelines.bids`) and the Python API alike:

:func:`run`
    reads and checks the images (:mod:`smoulder.io.nifti`, :mod:`smoulder.schema.images`), aligns
    them when asked (:mod:`smoulder.imaging.registration`), labels the lesions, runs the engine
    (:func:`smoulder.imaging.prl.detect_prl`) and, when ``out`` is given, writes the outputs;
:func:`write`
    writes ``lesions.tsv`` (+ JSON sidecar), ``lesions_dseg.nii.gz``, ``prl_mask.nii.gz`` and
    ``qc.html`` (names changeable, see :func:`plan_outputs`);
:func:`train` and :func:`load_model`
    fit a classifier on rated lesions tables and read a model file back.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from smoulder.exceptions import SettingsError
from smoulder.imaging import registration as reg
from smoulder.imaging.lesions import FALLBACK_METHOD, fallback_segmentation, label_lesions
from smoulder.imaging.prl import FEATURES, PRLModel, PRLResult, PRLSettings, detect_prl, train_model
from smoulder.imaging.prl.features import COLUMN_DESCRIPTIONS as FEATURE_DESCRIPTIONS
from smoulder.imaging.prl.qc import qc_html
from smoulder.io import bids as bio
from smoulder.io import nifti
from smoulder.io import prl_model as model_files
from smoulder.pipelines._files import atomic_outputs, output_plan
from smoulder.schema import images as img

REGISTER_CHOICES = ("none", "resample", "rigid")

#: Default file names of the outputs, by key (see :func:`plan_outputs`).
OUTPUT_NAMES = {
    "table": "lesions.tsv",
    "dseg": "lesions_dseg.nii.gz",
    "prl_mask": "prl_mask.nii.gz",
    "qc": "qc.html",
}

#: Descriptions of the per-lesion columns, written to the JSON sidecar.
COLUMN_DESCRIPTIONS = {
    "participant_id": "BIDS participant label",
    "session_id": "BIDS session label",
    "label": "Lesion label in lesions_dseg (1..N)",
    "n_voxels": "Number of voxels of the lesion",
    "volume_mm3": {"Description": "Lesion volume", "Units": "mm^3"},
    "centroid_x_mm": {
        "Description": "Lesion centroid, world x (RAS, scanner/affine space)",
        "Units": "mm",
    },
    "centroid_y_mm": {"Description": "Lesion centroid, world y (RAS)", "Units": "mm"},
    "centroid_z_mm": {"Description": "Lesion centroid, world z (RAS)", "Units": "mm"},
    "diameter_mm": {"Description": "Diameter of the sphere of equal volume", "Units": "mm"},
    **FEATURE_DESCRIPTIONS,
    "rim_score": "Rim score in [0, 1] (consensus: coverage_sustained; model: predicted probability)",
    "prl": "Paramagnetic rim lesion (rim_score >= threshold)",
    "classifier": "consensus rule or model:<name>",
    "input": "phase or qsm",
    "segmentation": "Source of the lesion mask (user mask or the labelled fallback)",
}


def plan_outputs(out_dir: str | Path, names: Mapping[str, str] | None = None) -> dict[str, Path]:
    """Every output path of a run, decided before any work.

    ``names`` may rename any of the keys ``table, dseg, prl_mask, qc`` (BIDS naming; an absolute
    name is used as is). The table's JSON sidecar goes beside it (``.tsv`` -> ``.json``).
    """
    out = Path(out_dir)
    n = {**OUTPUT_NAMES, **(names or {})}
    return {k: out / v for k, v in n.items()}


def resolve_settings(
    settings: PRLSettings | Mapping[str, Any] | None = None, **overrides: Any
) -> PRLSettings:
    """Settings from an object or a mapping (e.g. a TOML table) plus overrides (None ignored)."""
    if isinstance(settings, PRLSettings):
        changes = {k: v for k, v in overrides.items() if v is not None}
        return settings.replace(**changes) if changes else settings
    return PRLSettings.from_mapping(settings, **overrides)


def load_model(path: str | Path) -> PRLModel:
    """Read and check a model file written by :func:`train` (only load files you trust)."""
    return PRLModel.from_payload(model_files.read_model_file(path), str(path))


def run(
    flair: str | Path,
    *,
    phase: str | Path | None = None,
    qsm: str | Path | None = None,
    lesions: str | Path | None = None,
    phase_convention: str = "paramagnetic-negative",
    qsm_units: str = "ppm",
    register: str = "none",
    magnitude: str | Path | None = None,
    settings: PRLSettings | Mapping[str, Any] | None = None,
    model: PRLModel | str | Path | None = None,
    split_confluent: bool | None = None,
    out: str | Path | None = None,
    names: Mapping[str, str] | None = None,
    title: str = "smoulder PRL QC",
    **overrides: Any,
) -> PRLResult:
    """Read, check, align and analyse one subject's images; write the outputs when ``out`` is given.

    Parameters
    ----------
    flair : path
        FLAIR (or T2) NIfTI: the grid of the lesion mask and of every output.
    phase, qsm : path
        Exactly one: unwrapped, high-pass-filtered phase in radians, or QSM.
    lesions : path, optional
        Lesion mask (binary or labelled) on the FLAIR grid; without it a labelled FLAIR-threshold
        fallback runs and every output says so.
    phase_convention : {"paramagnetic-negative", "paramagnetic-positive"}
        Sign of paramagnetic tissue in the phase.
    qsm_units : {"ppm", "ppb"}
        Units of the QSM map.
    register : {"none", "resample", "rigid"}
        When the susceptibility image is on another grid: stop (``none``), resample through the
        affines, or register rigidly (antspyx).
    magnitude : path, optional
        With ``register="rigid"``: an image on the phase/QSM grid (e.g. the GRE magnitude), whose
        anatomy resembles the FLAIR more, to estimate the transform from.
    settings : PRLSettings or mapping, optional
        Rim features and rule; ``overrides`` (keyword arguments) change single values.
    model : PRLModel or path, optional
        A trained classifier (or its file) instead of the consensus rule.
    split_confluent : bool, optional
        Force (True) or disable (False) the splitting of confluent lesions.
    out : path, optional
        Output directory; nothing is written without it.
    names : mapping, optional
        Output file names by key (see :func:`plan_outputs`).
    title : str
        Title of the QC page.

    Returns
    -------
    PRLResult

    Examples
    --------
    A tiny head (32 voxels of 1 mm a side) with one lesion whose outer 2 mm are paramagnetic on
    QSM, written as NIfTI files and run file to file:

    >>> import pathlib, tempfile
    >>> import nibabel as nib
    >>> import numpy as np
    >>> from smoulder.pipelines import prl
    >>> g = np.indices((32, 32, 32)) - 15.5
    >>> r = np.sqrt((g**2).sum(axis=0))
    >>> head, lesion = r <= 14, r <= 7
    >>> noise = np.random.default_rng(0).normal(0, 0.01, r.shape)
    >>> images = {
    ...     "flair": 1.0 * head + lesion,
    ...     "qsm": head * (noise + 0.1 * (lesion & (r > 5))),
    ...     "lesions": lesion,
    ... }
    >>> tmp = tempfile.TemporaryDirectory()
    >>> d = pathlib.Path(tmp.name)
    >>> for name, data in images.items():
    ...     nib.save(nib.Nifti1Image(data.astype(np.float32), np.eye(4)), d / f"{name}.nii.gz")
    >>> res = prl.run(
    ...     d / "flair.nii.gz", qsm=d / "qsm.nii.gz", lesions=d / "lesions.nii.gz", out=d / "out"
    ... )
    >>> res.n_prl, sorted(p.name for p in (d / "out").iterdir())
    (1, ['lesions.json', 'lesions.tsv', 'lesions_dseg.nii.gz', 'prl_mask.nii.gz', 'qc.html'])
    >>> tmp.cleanup()
    """
    paths = plan_outputs(out, names) if out is not None else None
    if (phase is None) == (qsm is None):
        raise SettingsError("give exactly one of a phase image or a QSM map")
    if register not in REGISTER_CHOICES:
        raise SettingsError(f"register must be one of {REGISTER_CHOICES}, got {register!r}")
    st = resolve_settings(settings, **overrides)
    inputs = {
        "--flair": flair,
        "--phase": phase,
        "--qsm": qsm,
        "--lesions": lesions,
        "--magnitude": magnitude,
        "--model": model if isinstance(model, (str, Path)) else None,
    }
    if paths is not None:
        bio.check_out_dir(out)  # type: ignore[arg-type]
        output_plan(paths.values(), inputs).check()
    if model is not None and not isinstance(model, PRLModel):
        model = load_model(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fl = nifti.load_volume(flair)
        img.check_has_signal(fl, "FLAIR")
        kind = "phase" if phase is not None else "qsm"
        sv = nifti.load_volume(phase if phase is not None else qsm)  # type: ignore[arg-type]
        if not img.same_grid(fl, sv):
            if register == "none":
                img.check_same_grid(fl, sv, kind)
            img.check_has_signal(sv, "phase image" if kind == "phase" else "QSM image")
            if register == "resample":
                sv = reg.resample_to(fl, sv)
            else:
                mag = None
                if magnitude is None:
                    warnings.warn(
                        "rigid registration was estimated from the phase/QSM itself, whose contrast "
                        "differs from FLAIR; check the alignment on the QC page or give --magnitude",
                        stacklevel=2,
                    )
                else:
                    mag = nifti.load_volume(magnitude)
                    img.check_has_signal(mag, "magnitude image")
                    img.check_same_grid(sv, mag, "magnitude image (must share the phase/QSM grid)")
                sv = reg.rigid_register(fl, sv, moving_for_transform=mag)[0]
        if kind == "phase":
            img.check_phase_units(sv)
            data = sv.data
        else:
            data = img.check_qsm_units(sv, qsm_units)
        brain = fl.data > 0
        if lesions is not None:
            lv = nifti.load_label_volume(lesions)
            img.check_same_grid(fl, lv, "lesion mask")
            labels, _ = label_lesions(lv.data, fl.zooms, split=split_confluent)
            seg = "user mask"
        else:
            labels, _ = label_lesions(
                fallback_segmentation(fl.data, fl.zooms), fl.zooms, split=split_confluent
            )
            seg = FALLBACK_METHOD
        result = detect_prl(
            np.asarray(data, dtype=np.float32),
            labels,
            fl.affine,
            input_kind=kind,
            phase_convention=phase_convention,
            settings=st,
            model=model,
            brain=brain,
            segmentation=seg,
            flair=fl.data,
        )
    for w in caught:
        msg = str(w.message)
        if msg not in result.warnings:
            result.warnings.append(msg)
    if seg == FALLBACK_METHOD:
        result.warnings.append("no lesion mask was given: lesions come from the " + FALLBACK_METHOD)
    if paths is not None:
        write(result, out, names=names, title=title, inputs=inputs)  # type: ignore[arg-type]
    return result


def sidecar(result: PRLResult) -> dict[str, Any]:
    """The lesions table's JSON sidecar: column descriptions, settings, version, warnings, methods."""
    cols = {c: COLUMN_DESCRIPTIONS.get(c, c) for c in result.lesions.columns}
    return {
        **cols,
        "GeneratedBy": [{"Name": "smoulder", "Version": result.version}],
        "Settings": result.provenance(),
        "Warnings": result.warnings,
        "MethodsParagraph": result.methods(),
        "Note": "Evidence for rating, not a diagnosis.",
    }


def write(
    result: PRLResult,
    out: str | Path,
    *,
    names: Mapping[str, str] | None = None,
    title: str = "smoulder PRL QC",
    inputs: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write a result's files and return their paths by key.

    ``lesions.tsv`` (+ ``lesions.json``), ``lesions_dseg.nii.gz`` (labels), ``prl_mask.nii.gz``
    and ``qc.html``, on the grid of the result; ``names`` renames them (see :func:`plan_outputs`).
    Every file is written all or nothing, and none may be one of the ``inputs`` (flag -> path).
    """
    paths = plan_outputs(out, names)
    bio.check_out_dir(out)
    grid = img.Volume(result.labels, result.affine)
    with atomic_outputs(paths.values(), inputs) as stage:
        bio.write_tsv(result.lesions, stage.path(paths["table"]), sidecar(result))
        nifti.save_volume(stage.path(paths["dseg"]), grid, result.labels, np.int32)
        mask = result.prl_mask.astype(np.uint8)
        nifti.save_volume(stage.path(paths["prl_mask"]), grid, mask, np.uint8)
        bio.write_text(stage.path(paths["qc"]), qc_html(result, title=title))
    return paths


def train(
    tables: Sequence[str | Path],
    *,
    out: str | Path,
    rating_col: str = "rating",
    name: str | None = None,
    threshold: float = 0.5,
    seed: int = 0,
    demo: bool = False,
) -> tuple[PRLModel, int]:
    """Fit the classifier on rated lesions tables and write the model file.

    Returns the model and the number of rated lesions it was trained on.
    """
    table, y = model_files.read_rated_tables(tables, features=FEATURES, rating_col=rating_col)
    model = train_model(
        table, y, name=name or Path(out).stem, threshold=threshold, seed=seed, demo=demo
    )
    model_files.write_model_file(model.to_payload(), out)
    return model, int(len(y))


__all__ = [
    "REGISTER_CHOICES",
    "OUTPUT_NAMES",
    "COLUMN_DESCRIPTIONS",
    "plan_outputs",
    "resolve_settings",
    "load_model",
    "run",
    "write",
    "sidecar",
    "train",
]
