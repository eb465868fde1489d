"""``segment_lesions``: FLAIR (+ T1) in, labelled lesions and a per-lesion table out."""

from __future__ import annotations

import time

import numpy as np
from scipy import ndimage

from smoulder import __version__
from smoulder._progress import announce
from smoulder.imaging.lesionseg._model import MODEL_T1
from smoulder.imaging.lesionseg.classify import candidate_features, lesion_probability
from smoulder.imaging.lesionseg.detect import detect, label, lesion_table, location_classes
from smoulder.imaging.lesionseg.images import Priors, TemplateLike, as_image
from smoulder.imaging.lesionseg.prepare import Prepared, prepare
from smoulder.imaging.lesionseg.result import LesionSegResult
from smoulder.imaging.lesionseg.settings import LesionSegSettings

__all__ = ["segment_lesions", "subject_regions", "run_detection"]


def _bbox(mask: np.ndarray, margin: int = 3) -> tuple[slice, ...]:
    idx = np.argwhere(mask)
    if idx.size == 0:
        return tuple(slice(0, n) for n in mask.shape)
    lo = np.maximum(idx.min(0) - margin, 0)
    hi = np.minimum(idx.max(0) + margin + 1, mask.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))


def subject_regions(p: Prepared) -> dict[str, np.ndarray]:
    """Ventricles and cortex of this subject: tissue classes inside the registered regions."""
    zooms = p.zooms
    bb = _bbox(p.brain, margin=8)
    pc, pg = p.posteriors["csf"][bb], p.posteriors["gm"][bb]
    brain = p.brain[bb]
    near_v = ndimage.distance_transform_edt(p.priors.ventricles[bb] < 0.3, sampling=zooms) <= 6.0
    vent = brain & (pc > 0.5) & near_v
    lab, n = ndimage.label(vent)
    if n:
        sizes = np.bincount(lab.ravel()) * float(np.prod(zooms))
        sizes[0] = 0
        vent = np.isin(lab, np.flatnonzero(sizes >= 200.0))
    cortex = brain & (pg > 0.5) & (p.priors.cortex[bb] > 0.25)
    out = {}
    for name, arr in (("ventricles", vent), ("cortex", cortex)):
        full = np.zeros(p.brain.shape, bool)
        full[bb] = arr
        out[name] = full
    out["infratentorial"] = p.priors.infratentorial > 0.5
    return out


def run_detection(p: Prepared, s: LesionSegSettings) -> tuple[np.ndarray, dict[str, int]]:
    """The detection stage alone (on prepared maps): labels and step counts.

    Runs inside the brain's bounding box (a clinical field of view with a neck is mostly not
    brain) and pastes the result back on the full grid. With the candidate classifier (a T1
    given and ``classifier = "logistic"``) the rule-based lesions and the small weak-seed
    candidates beside them are judged by :func:`classify_candidates`.
    """
    announce("finding lesions (seeds, growth, location classes)")
    regions = subject_regions(p)
    bb = _bbox(p.brain)
    mask, counts = _detect(p, s, regions, bb)
    if use_classifier(p, s):
        weak, wcounts = _detect(p, candidate_settings(s), regions, bb)
        counts["weak_lesions"] = wcounts["lesions"]
        mask = classify_candidates(p, s, mask, weak, regions, bb, counts)
    full = np.zeros(p.brain.shape, bool)
    full[bb] = mask
    return label(full, s.connectivity), counts


def _detect(
    p: Prepared, s: LesionSegSettings, regions: dict[str, np.ndarray], bb: tuple[slice, ...]
) -> tuple[np.ndarray, dict[str, int]]:
    # in the brainstem and cerebellum T1 and FLAIR separate white from grey matter poorly:
    # there the registered white-matter prior counts as white matter too
    wm_extra = (p.priors.infratentorial[bb] > 0.5) & (p.priors.wm[bb] >= 0.25)
    return detect(
        p.z[bb],
        p.zg[bb],
        p.posteriors["wm"][bb],
        p.posteriors["csf"][bb],
        p.brain[bb],
        p.zooms,
        s,
        wm_extra=wm_extra,
        contrast=p.contrast[bb],
        infratentorial=regions["infratentorial"][bb],
        ventricles=regions["ventricles"][bb],
        t1_ratio=None if p.t1_ratio is None else p.t1_ratio[bb],
        cortex=regions["cortex"][bb],
    )


def use_classifier(p: Prepared, s: LesionSegSettings) -> bool:
    """The candidate classifier runs when it is on and a T1 was given (it was fitted with one)."""
    return s.classifier == "logistic" and p.t1_ratio is not None


def candidate_settings(s: LesionSegSettings) -> LesionSegSettings:
    """The weak-seed search: lower ``z_seed`` and ``zg_seed``, single-voxel seeds allowed."""
    return s.replace(
        z_seed=s.candidate_z_seed,
        zg_seed=s.candidate_zg_seed,
        min_seed_voxels=1,
    )


def candidates(
    mask: np.ndarray, weak: np.ndarray, zooms: np.ndarray, s: LesionSegSettings
) -> tuple[np.ndarray, int, np.ndarray]:
    """Candidate labels: the rule-based lesions, and weak-seed lesions apart from them.

    A weak-seed lesion joins when it touches no rule-based lesion and is at most
    ``candidate_max_mm3`` (weak seeds are there for the small lesions strong seeds miss; a
    large region of weak hyperintensity is diffuse signal). Returns labels, their number and,
    per label 1..n, whether it is a rule-based lesion (``strong``).
    """
    lw = label(weak, s.connectivity)
    nw = int(lw.max())
    drop = np.zeros(nw + 1, bool)
    # touching: overlapping or next to (26-neighbours) a rule-based lesion
    near = ndimage.binary_dilation(mask, structure=np.ones((3, 3, 3), bool))
    drop[np.unique(lw[near & (lw > 0)])] = True
    vol = np.bincount(lw.ravel(), minlength=nw + 1) * float(np.prod(zooms))
    drop |= vol > s.candidate_max_mm3
    drop[0] = True
    cand = label(mask | ~drop[lw], s.connectivity)
    n = int(cand.max())
    strong = np.zeros(n + 1, bool)
    strong[np.unique(cand[mask])] = True
    return cand, n, strong[1:]


def candidate_table(
    p: Prepared,
    s: LesionSegSettings,
    mask: np.ndarray,
    weak: np.ndarray,
    regions: dict[str, np.ndarray],
    bb: tuple[slice, ...],
) -> tuple[np.ndarray, int, np.ndarray]:
    """Candidate labels (on the box ``bb``), their number and their feature rows."""
    lab, n, strong = candidates(mask, weak, p.zooms, s)
    feats = candidate_features(
        lab,
        n,
        z=p.z[bb],
        zg=p.zg[bb],
        contrast=p.contrast[bb],
        t1_ratio=None if p.t1_ratio is None else p.t1_ratio[bb],
        pw=p.posteriors["wm"][bb],
        pg=p.posteriors["gm"][bb],
        pc=p.posteriors["csf"][bb],
        brain=p.brain[bb],
        ventricles=regions["ventricles"][bb],
        infratentorial=regions["infratentorial"][bb],
        zooms=p.zooms,
        strong=strong,
    )
    return lab, n, feats


def all_candidates(p: Prepared, s: LesionSegSettings) -> tuple[np.ndarray, np.ndarray]:
    """Every candidate on the full grid (labels 1..n) and its features (training, evaluation)."""
    regions = subject_regions(p)
    bb = _bbox(p.brain)
    mask, _ = _detect(p, s, regions, bb)
    weak, _ = _detect(p, candidate_settings(s), regions, bb)
    lab, _, feats = candidate_table(p, s, mask, weak, regions, bb)
    full = np.zeros(p.brain.shape, np.int32)
    full[bb] = lab
    return full, feats


def classify_candidates(
    p: Prepared,
    s: LesionSegSettings,
    mask: np.ndarray,
    weak: np.ndarray,
    regions: dict[str, np.ndarray],
    bb: tuple[slice, ...],
    counts: dict[str, int],
) -> np.ndarray:
    """Keep the candidates whose classifier probability reaches ``classifier_threshold``."""
    lab, n, feats = candidate_table(p, s, mask, weak, regions, bb)
    prob = lesion_probability(feats, MODEL_T1)
    keep = np.zeros(n + 1, bool)
    keep[1:] = prob >= s.classifier_threshold
    counts["candidates"] = n
    counts["lesions"] = int(keep.sum())
    return keep[lab]


def segment_lesions(
    flair: object,
    *,
    t1: object | None = None,
    brain_mask: np.ndarray | None = None,
    template: TemplateLike | None = None,
    priors: Priors | None = None,
    settings: LesionSegSettings | None = None,
) -> LesionSegResult:
    """Segment white-matter lesions on a FLAIR image (optionally helped by a T1).

    Parameters
    ----------
    flair : image-like
        Any object with ``data`` (3-D array) and ``affine`` (4 x 4, RAS mm): the output grid.
        Native clinical scans are fine: thick slices, bias, skull and neck.
    t1 : image-like, optional
        A T1-weighted image of the same session; registered rigidly to the FLAIR when its grid
        differs. It gives the tissue classes (better white matter than FLAIR alone).
    brain_mask : numpy.ndarray of bool, optional
        The brain on the FLAIR grid; without it the brain comes from the registered template.
    template : template-like, optional
        The MNI152 template (:func:`smoulder.io.templates.load_mni152`), registered to find brain,
        tissue priors and the anatomical regions. Needed unless ``priors`` are given.
    priors : Priors, optional
        Tissue priors and regions already on the FLAIR grid (skips the registration).
    settings : LesionSegSettings, optional
        Every parameter (defaults in docs/lesions.md).

    Returns
    -------
    LesionSegResult
        ``labels`` (int32 on the FLAIR grid), the per-lesion ``summary`` table and the
        intermediate maps needed for the QC page.

    Examples
    --------
    >>> from smoulder.io.templates import load_mni152  # doctest: +SKIP
    >>> res = segment_lesions(flair, t1=t1, template=load_mni152())  # doctest: +SKIP
    >>> res.summary[["label", "volume_mm3", "location"]]  # doctest: +SKIP
    """
    s = settings or LesionSegSettings()
    f = as_image(flair, "FLAIR", "--flair")
    t = as_image(t1, "T1", "--t1") if t1 is not None else None
    if brain_mask is not None:
        bm = np.asarray(getattr(brain_mask, "data", brain_mask))
        if bm.shape != f.shape:
            from smoulder.exceptions import InputDataError

            raise InputDataError(
                f"brain mask has shape {bm.shape}, the FLAIR {f.shape}",
                file=str(getattr(brain_mask, "source", "brain mask")),
                expected="a brain mask on the FLAIR grid for --brain-mask",
            )
        brain_mask = bm > 0
    if template is None and priors is None:
        raise ValueError("segment_lesions needs template= (the MNI152 template) or priors=")
    t0 = time.perf_counter()
    p = prepare(f, t1=t, brain_mask=brain_mask, template=template, priors=priors, settings=s)
    labels, counts = run_detection(p, s)
    regions = subject_regions(p)
    locs = location_classes(
        labels,
        p.zooms,
        ventricles=regions["ventricles"],
        cortex=regions["cortex"],
        infratentorial=regions["infratentorial"],
        periventricular_mm=s.periventricular_mm,
        juxtacortical_mm=s.juxtacortical_mm,
    )
    table = lesion_table(labels, p.affine, locs, p.z)
    return LesionSegResult(
        settings=s,
        version=__version__,
        labels=labels,
        affine=p.affine,
        zooms=(float(p.zooms[0]), float(p.zooms[1]), float(p.zooms[2])),
        lesions=table,
        brain_mask=p.brain,
        flair=p.flair,
        counts=counts,
        notes=p.notes,
        used_t1=p.t1 is not None,
        brain_mask_given=brain_mask is not None,
        seconds=time.perf_counter() - t0,
    )
