"""The PRL pipeline: files in, checked, aligned, labelled, analysed, written.

Used by ``smoulder prl``, the BIDS App (:mod:`smoulder.pipelines.bids`) and the Python API alike:
:func:`run` (read, check, align, label, :func:`smoulder.imaging.prl.detect_prl`), :func:`write`,
:func:`prepare_susceptibility` (NIfTI, DICOM, raw phase: docs/raw_phase.md), :func:`train`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from smoulder.exceptions import SettingsError
from smoulder.imaging import registration as reg
from smoulder.imaging.lesions import label_lesions
from smoulder.imaging.phase import RawPhaseResult, RawPhaseSettings
from smoulder.imaging.prl import FEATURES, PRLModel, PRLResult, PRLSettings, detect_prl, train_model
from smoulder.imaging.prl.features import COLUMN_DESCRIPTIONS as FEATURE_DESCRIPTIONS
from smoulder.io import bids as bio
from smoulder.io import nifti
from smoulder.io import prl_model as model_files
from smoulder.pipelines import _scanner
from smoulder.pipelines._auto_lesions import segment_flair
from smoulder.pipelines._files import atomic_outputs, output_plan
from smoulder.pipelines._prl_review import read_rated, review_html
from smoulder.schema import images as img

REGISTER_CHOICES = ("none", "resample", "rigid")

#: Default file names of the outputs, by key (see :func:`plan_outputs`).
OUTPUT_NAMES = {
    "table": "lesions.tsv",
    "dseg": "lesions_dseg.nii.gz",
    "prl_mask": "prl_mask.nii.gz",
    "qc": "qc.html",
}

#: Outputs added when the phase was raw scanner phase (see :func:`plan_outputs`).
RAW_PHASE_OUTPUT_NAMES = {"local_field": "local_field_ppm.nii.gz"}

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
    "rim_score": "Rim score in [0, 1] (consensus: rim_evidence; model: predicted probability)",
    "prl": "Paramagnetic rim lesion (rim_score >= threshold)",
    "classifier": "consensus rule or model:<name>",
    "input": "phase or qsm",
    "segmentation": "Source of the lesion mask (user mask, smoulder lesions, or the labelled fallback)",
}


def plan_outputs(
    out_dir: str | Path, names: Mapping[str, str] | None = None, *, raw_phase: bool = False
) -> dict[str, Path]:
    """Every output path of a run, decided before any work.

    Parameters
    ----------
    out_dir : path
    names : mapping of str to str, optional
        New names of ``table, dseg, prl_mask, qc`` (BIDS naming; an absolute name is used as is)
        and, with ``raw_phase``, of ``local_field``. The table's JSON sidecar goes beside it.
    raw_phase : bool

    Returns
    -------
    dict of str to Path
    """
    out = Path(out_dir)
    base = {**OUTPUT_NAMES, **(RAW_PHASE_OUTPUT_NAMES if raw_phase else {})}
    n = {**base, **{k: v for k, v in (names or {}).items() if k in base}}
    return {k: out / v for k, v in n.items()}


def resolve_settings(
    settings: PRLSettings | Mapping[str, Any] | None = None, **overrides: Any
) -> PRLSettings:
    """Settings from an object or a mapping (e.g. a TOML table) plus overrides (None ignored).

    Parameters
    ----------
    settings : PRLSettings or mapping, optional
    **overrides
        Single settings, winning over ``settings`` (invalid ones: :class:`SettingsError`).

    Returns
    -------
    PRLSettings
    """
    if isinstance(settings, PRLSettings):
        changes = {k: v for k, v in overrides.items() if v is not None}
        return settings.replace(**changes) if changes else settings
    return PRLSettings.from_mapping(settings, **overrides)


def load_model(path: str | Path) -> PRLModel:
    """Read and check a model file written by :func:`train` (only load files you trust).

    Parameters
    ----------
    path : path
        The model file (missing, unreadable or holding no valid model: :class:`InputDataError`).

    Returns
    -------
    PRLModel
    """
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
    raw_phase: bool = False,
    raw_phase_settings: RawPhaseSettings | Mapping[str, Any] | None = None,
    phase_series: int | None = None,
    magnitude_series: int | None = None,
    **overrides: Any,
) -> PRLResult:
    """Read, check, align and analyse one subject's images; write the outputs when ``out`` is given.

    Parameters
    ----------
    flair : path
        FLAIR (or T2) NIfTI: the grid of the lesion mask and of every output. Every image may
        also be a DICOM folder (or one DICOM file), converted with dcm2niix.
    phase, qsm : path
        Exactly one: unwrapped, high-pass-filtered phase in radians, or QSM; with
        ``raw_phase``, phase as the scanner writes it.
    lesions : path, optional
        Lesion mask (binary or labelled) on the FLAIR grid; without it the FLAIR is segmented by
        ``smoulder lesions`` (:mod:`smoulder.pipelines._auto_lesions`; the FLAIR-threshold
        fallback when it covers less than a whole brain) and every output says so.
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
    raw_phase : bool
        ``phase`` is raw scanner phase (wrapped; integers or radians; background field in it):
        rescale, unwrap and remove the background first (docs/raw_phase.md). ``magnitude``
        (the same echo's magnitude; found in the phase's DICOM folder when not given) then
        also makes the mask of reliable phase.
    raw_phase_settings : RawPhaseSettings or mapping, optional
        Echo time, field strength, encoding, methods; values not given come from the phase's
        JSON sidecar (dcm2niix's, or one beside the NIfTI file).
    phase_series, magnitude_series : int, optional
        The series number to use when a DICOM folder holds several phase / magnitude series.

    Returns
    -------
    PRLResult

    Examples
    --------
    A tiny head (32 voxels of 1 mm) with one lesion whose outer 2 mm are paramagnetic on QSM:

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
    paths = plan_outputs(out, names, raw_phase=raw_phase) if out is not None else None
    if (phase is None) == (qsm is None):
        raise SettingsError("give exactly one of a phase image or a QSM map")
    if raw_phase and phase is None:
        raise SettingsError("--raw-phase applies to --phase (raw scanner phase), not to --qsm")
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
    scan = _scanner.ScannerInputs()
    with scan, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fl = scan.load(flair, "--flair")
        img.check_has_signal(fl, "FLAIR")
        kind = "phase" if phase is not None else "qsm"
        sv, mag, raw = prepare_susceptibility(
            scan,
            phase=phase,
            qsm=qsm,
            magnitude=magnitude,
            raw_phase=raw_phase,
            raw_phase_settings=raw_phase_settings,
            phase_convention=phase_convention,
            phase_series=phase_series,
            magnitude_series=magnitude_series,
        )
        if not img.same_grid(fl, sv):
            if register == "none":
                img.check_same_grid(fl, sv, kind)
            img.check_has_signal(sv, "phase image" if kind == "phase" else "QSM image")
            if register == "resample":
                sv = reg.resample_to(fl, sv)
            else:
                if mag is None and magnitude is None:
                    warnings.warn(
                        "rigid registration was estimated from the phase/QSM itself, whose contrast "
                        "differs from FLAIR; check the alignment on the QC page or give --magnitude",
                        stacklevel=2,
                    )
                elif mag is None:
                    mag = scan.load(magnitude, "--magnitude", kind="magnitude")  # type: ignore[arg-type]
                    img.check_has_signal(mag, "magnitude image")
                    img.check_same_grid(sv, mag, "magnitude image (must share the phase/QSM grid)")
                sv = reg.rigid_register(fl, sv, moving_for_transform=mag)[0]
        if kind == "phase" and raw is not None:
            data = sv.data  # the local phase: checked by the raw-phase steps
        elif kind == "phase":
            check_processed_phase(sv)
            data = sv.data
        else:
            data = img.check_qsm_units(sv, qsm_units)
        brain = fl.data > 0
        if raw is not None:
            brain &= sv.data != 0  # where the local field is valid
        if lesions is not None:
            lv = scan.load(lesions, "--lesions", labels=True)
            img.check_same_grid(fl, lv, "lesion mask")
            labels, _ = label_lesions(lv.data, fl.zooms, split=split_confluent)
            seg = "user mask"
        else:  # no mask: the smoulder lesions engine (or the fallback on a partial FOV)
            auto = segment_flair(fl, mask_name=OUTPUT_NAMES["dseg"])
            labels, _ = label_lesions(auto.labels, fl.zooms, split=split_confluent)
            seg = auto.method
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
    if lesions is None:
        result.warnings.append(auto.message)
    if raw is not None:
        result.warnings.extend(
            w for w in raw_phase_notes(result, brain) if w not in result.warnings
        )
    if paths is not None:
        write(
            result,
            out,  # type: ignore[arg-type]
            names=names,
            title=title,
            inputs=inputs,
            raw_phase=raw,
            acquisition={"Inputs": scan.acquisition, "Series": scan.series},
        )
    return result


def sidecar(
    result: PRLResult,
    *,
    raw_phase: RawPhaseResult | None = None,
    acquisition: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The lesions table's JSON sidecar: column descriptions, settings, version, warnings, methods.

    Parameters
    ----------
    result : PRLResult
    raw_phase, acquisition : RawPhaseResult, mapping, optional
        Raw-phase steps (in the methods paragraph and under ``RawPhase``); allow-listed sidecar
        fields of DICOM/NIfTI inputs (under ``Acquisition``).

    Returns
    -------
    dict
    """
    cols = {c: COLUMN_DESCRIPTIONS.get(c, c) for c in result.lesions.columns}
    methods = result.methods()
    extra: dict[str, Any] = {}
    if raw_phase is not None:
        methods = raw_phase.methods() + " " + methods
        extra["RawPhase"] = {"Settings": raw_phase.settings.to_dict(), **raw_phase.facts}
    if acquisition and any(acquisition.values()):
        extra["Acquisition"] = {k: v for k, v in acquisition.items() if v}
    return {
        **cols,
        "GeneratedBy": [{"Name": "smoulder", "Version": result.version}],
        "Settings": result.provenance(),
        "Warnings": result.warnings,
        "MethodsParagraph": methods,
        **extra,
        "Note": "Evidence for rating, not a diagnosis.",
    }


def write(
    result: PRLResult,
    out: str | Path,
    *,
    names: Mapping[str, str] | None = None,
    title: str = "smoulder PRL QC",
    inputs: Mapping[str, Any] | None = None,
    raw_phase: RawPhaseResult | None = None,
    acquisition: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write a result's files and return their paths by key.

    Parameters
    ----------
    result : PRLResult
    out : path
        The folder (created; a file: :class:`InputDataError`) of ``lesions.tsv`` (+ JSON),
        ``lesions_dseg.nii.gz``, ``prl_mask.nii.gz``, ``qc.html``, written all or nothing.
    names, title : mapping, str
        Output names by key (see :func:`plan_outputs`) and the QC page's title.
    inputs : mapping of str to path, optional
        The files read (flag -> path), which no output may be (:class:`OutputError`).
    raw_phase, acquisition
        As in :func:`sidecar`; with ``raw_phase`` also ``local_field_ppm.nii.gz``.

    Returns
    -------
    dict of str to Path
    """
    paths = plan_outputs(out, names, raw_phase=raw_phase is not None)
    bio.check_out_dir(out)
    grid = img.Volume(result.labels, result.affine)
    meta = sidecar(result, raw_phase=raw_phase, acquisition=acquisition)
    with atomic_outputs(paths.values(), inputs) as stage:
        bio.write_tsv(result.lesions, stage.path(paths["table"]), meta)
        if raw_phase is not None:
            write_local_field(stage.path(paths["local_field"]), raw_phase)
        nifti.save_volume(stage.path(paths["dseg"]), grid, result.labels, np.int32)
        mask = result.prl_mask.astype(np.uint8)
        nifti.save_volume(stage.path(paths["prl_mask"]), grid, mask, np.uint8)
        bio.write_text(stage.path(paths["qc"]), review_html(result, title=title))
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

    Parameters
    ----------
    tables : sequence of path
        Ratings TSVs saved by the QC page, or lesions tables with a ``rating_col`` column.
    out : path
        The model file.
    rating_col, name : str
        The ratings column; the model's name (default: the stem of ``out``).
    threshold, seed, demo : float, int, bool
        Probability from which a lesion is a PRL; seed of the fit; mark as a demo model.

    Returns
    -------
    tuple of (PRLModel, int)
        The model and the number of rated lesions it was trained on (a table unreadable,
        without a feature or rating column, or with bad ratings: :class:`InputDataError`).
    """
    table, y = read_rated(tables, features=FEATURES, rating_col=rating_col)
    model = train_model(
        table, y, name=name or Path(out).stem, threshold=threshold, seed=seed, demo=demo
    )
    model_files.write_model_file(model.to_payload(), out)
    return model, int(len(y))


# ----------------------------------------------------------------------------------------------
# Scanner input: DICOM and raw phase (docs/raw_phase.md). Kept apart from the PRL steps above.


def prepare_susceptibility(
    scan: _scanner.ScannerInputs,
    *,
    phase: str | Path | None,
    qsm: str | Path | None,
    magnitude: str | Path | None = None,
    raw_phase: bool = False,
    raw_phase_settings: RawPhaseSettings | Mapping[str, Any] | None = None,
    phase_convention: str = "paramagnetic-negative",
    phase_series: int | None = None,
    magnitude_series: int | None = None,
) -> tuple[img.Volume, img.Volume | None, RawPhaseResult | None]:
    """The phase or QSM image the PRL steps read, on its own grid.

    Parameters
    ----------
    scan : ScannerInputs
    phase, qsm, magnitude, raw_phase, raw_phase_settings, phase_convention, phase_series, magnitude_series
        As in :func:`run` (DICOM phase without ``raw_phase``: :class:`SettingsError`).

    Returns
    -------
    tuple of (Volume, Volume or None, RawPhaseResult or None)
        The image (raw phase: the local phase from it), the magnitude read with raw phase (it
        also serves ``register="rigid"``) and the raw-phase result; notes issued as warnings.
    """
    if qsm is not None:
        return scan.load(qsm, "--qsm"), None, None
    assert phase is not None
    if not raw_phase:
        if Path(phase).is_dir() or dicom_file(phase):
            raise SettingsError(
                f"--phase {phase} is DICOM: phase from the scanner is wrapped and still holds "
                "the background field; add --raw-phase to unwrap and filter it"
            )
        return scan.load(phase, "--phase"), None, None
    local, mag, res, notes = _scanner.load_raw_phase(
        scan,
        phase,
        magnitude=magnitude,
        settings=raw_phase_settings,
        phase_convention=phase_convention,
        phase_series=phase_series,
        magnitude_series=magnitude_series,
    )
    for note in notes:
        warnings.warn(note, stacklevel=2)
    return local, mag, res


def dicom_file(path: str | Path) -> bool:
    """Whether ``path`` is one DICOM file (a folder is checked by the caller)."""
    from smoulder.io import dicom

    return Path(path).is_file() and dicom.is_dicom_file(path)


def check_processed_phase(vol: img.Volume) -> None:
    """:func:`~smoulder.schema.images.check_phase_units`, pointing raw phase to ``--raw-phase``.

    Parameters
    ----------
    vol : Volume
        Phase all zero or not in radians raises :class:`InputDataError` (raw phase named so).
    """
    from smoulder.exceptions import InputDataError

    try:
        img.check_phase_units(vol)
    except InputDataError as exc:
        d = vol.data[vol.data != 0]
        whole = d.size > 0 and bool(np.all(d == np.round(d)))
        if whole and float(d.max()) <= 4095 and float(d.min()) >= -4096:
            raise InputDataError(
                "holds whole numbers within -4096..4095: this looks like raw scanner phase",
                file=vol.source,
                expected="processed phase in radians, or add --raw-phase (with --echo-time-ms "
                "and --field-strength-t) to rescale, unwrap and filter it",
            ) from None
        raise exc from None


def raw_phase_notes(result: PRLResult, valid: np.ndarray, max_outside: float = 0.2) -> list[str]:
    """Warnings for lesions lying partly where the local field from raw phase is not valid.

    Parameters
    ----------
    result : PRLResult
    valid, max_outside : ndarray of bool, float
        Where the local field is valid; the share of a lesion allowed outside it.

    Returns
    -------
    list of str
    """
    labels = result.labels
    if labels.max() == 0:
        return []
    n = np.bincount(labels.ravel(), minlength=int(labels.max()) + 1)
    outside = np.bincount(labels[~valid].ravel(), minlength=len(n))
    frac = np.divide(outside, n, out=np.zeros(len(n)), where=n > 0)[1:]
    bad = [i + 1 for i, f in enumerate(frac) if f > max_outside]
    if not bad:
        return []
    shown = ", ".join(str(b) for b in bad[:10]) + (" ..." if len(bad) > 10 else "")
    return [
        f"{len(bad)} lesion(s) (label {shown}) lie more than {max_outside:.0%} outside the region "
        "where the local field from raw phase is valid (brain edge, next to air): their rim "
        "features are unreliable"
    ]


def write_local_field(path: str | Path, raw: RawPhaseResult) -> None:
    """Write the local field (ppm, paramagnetic positive, 0 outside its mask) on the phase grid.

    Parameters
    ----------
    path, raw : path, RawPhaseResult
    """
    grid = img.Volume(raw.local_field_ppm, np.asarray(raw.affine))
    nifti.save_volume(path, grid, raw.local_field_ppm, np.float32)


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
    "RAW_PHASE_OUTPUT_NAMES",
    "prepare_susceptibility",
    "check_processed_phase",
    "raw_phase_notes",
    "write_local_field",
]
