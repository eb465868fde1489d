"""The PRL engine's entry point: labelled lesions and a susceptibility image in, a PRLResult out.

Pure computation: arrays, an affine and settings in, a :class:`PRLResult` out. Files are read
and written by :mod:`smoulder.pipelines.prl`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from smoulder.exceptions import SettingsError
from smoulder.imaging.dipole import b0_direction, tkd_inversion
from smoulder.imaging.lesions import lesion_geometry
from smoulder.imaging.prl.features import (
    CONVENTION_WARN_BELOW,
    ConventionWarning,
    convention_agreement,
    lesion_features,
    paramagnetic_signal,
)
from smoulder.imaging.prl.result import PRLResult
from smoulder.imaging.prl.rule import apply_rule
from smoulder.imaging.prl.settings import PRLSettings
from smoulder.schema.images import Volume


def detect_prl(
    image: np.ndarray,
    labels: np.ndarray,
    affine: np.ndarray,
    *,
    input_kind: str,
    phase_convention: str = "paramagnetic-negative",
    settings: PRLSettings | None = None,
    model: Any = None,
    brain: np.ndarray | None = None,
    check_convention: bool = True,
    segmentation: str = "user mask",
    flair: np.ndarray | None = None,
) -> PRLResult:
    """Find paramagnetic rim lesions among labelled lesions.

    Parameters
    ----------
    image : numpy.ndarray
        Phase (radians, unwrapped and high-pass filtered) or QSM (ppm), on the
        grid of ``labels``.
    labels : numpy.ndarray of int
        Lesion labels (0 = background), e.g. from :func:`~smoulder.imaging.label_lesions`.
    affine : (4, 4) array
        Voxel-to-world affine (mm).
    input_kind : {"phase", "qsm"}
        What ``image`` is.
    phase_convention : {"paramagnetic-negative", "paramagnetic-positive"}
        Sign of paramagnetic tissue in the phase (ignored for QSM).
    settings : PRLSettings, optional
        Rim features and rule (defaults: :class:`PRLSettings`).
    model : PRLModel, optional
        A trained classifier (:func:`~smoulder.imaging.prl.train_model`); without it
        the consensus rule decides and ``rim_score = rim_evidence`` (continuous; a PRL from 0.5).
    brain : numpy.ndarray of bool, optional
        Voxels that may serve as perilesional background (default: non-zero signal).
    check_convention : bool
        For phase: warn (:class:`ConventionWarning`) when the image seems to
        follow the other sign convention.
    segmentation : str
        Where the lesion mask came from (written to the table and QC page).
    flair : numpy.ndarray, optional
        The FLAIR on the same grid; only kept in the result for the QC page.

    Returns
    -------
    PRLResult
        ``lesions`` has ``label, n_voxels, volume_mm3, centroid_x_mm,
        centroid_y_mm, centroid_z_mm, diameter_mm``, the features, ``rim_score``,
        ``prl`` (bool), ``classifier``, ``input`` and ``segmentation``.

    Raises
    ------
    SettingsError
        An unknown input kind or phase convention, an image whose shape differs from the
        labels', or a model trained on the other input kind.

    Examples
    --------
    One spherical lesion (radius 7 mm, 1 mm voxels) whose outer 2 mm are paramagnetic all
    round, in a QSM map with noise:

    >>> import numpy as np
    >>> from smoulder.imaging import detect_prl
    >>> g = np.indices((32, 32, 32)) - 15.5
    >>> r = np.sqrt((g**2).sum(axis=0))
    >>> labels = (r <= 7).astype(np.int32)
    >>> rim = (r <= 7) & (r > 5)
    >>> qsm = np.random.default_rng(0).normal(0, 0.01, r.shape) + 0.1 * rim
    >>> res = detect_prl(qsm, labels, np.eye(4), input_kind="qsm")
    >>> res.lesions[["label", "coverage_sustained", "prl"]]
       label  coverage_sustained   prl
    0      1                 1.0  True
    >>> res.n_prl, res.classifier
    (1, 'consensus')
    """
    st = settings if settings is not None else PRLSettings()
    labels = np.asarray(labels).astype(np.int32, copy=False)
    affine = np.asarray(affine, dtype=float)
    if np.asarray(image).shape != labels.shape:
        raise SettingsError(
            f"image shape {np.asarray(image).shape} differs from label shape {labels.shape}"
        )
    s = paramagnetic_signal(image, input_kind, phase_convention)
    grid = Volume(labels, affine)
    notes: list[str] = []
    agree = None
    zooms = grid.zooms
    chi_est = None
    if input_kind == "phase" and (check_convention or st.phase_mode == "dipole-inversion"):
        # phase -> approximate susceptibility (radian-scaled) by thresholded k-space division,
        # which undoes the orientation dependence of the dipole field; B0 is the scanner's z axis
        # (world z of the affine) expressed along the voxel axes, so oblique slices get their
        # true kernel
        mask = (s != 0) if brain is None else np.asarray(brain, dtype=bool)
        chi_est = (
            tkd_inversion(
                np.where(mask, s, 0.0),
                zooms,
                threshold=st.tkd_threshold,
                b0_direction=b0_direction(affine),
            )
            * mask
        )
    if input_kind == "phase" and check_convention:
        agree = convention_agreement(s, zooms, brain, chi=chi_est)
        if agree < CONVENTION_WARN_BELOW:
            msg = (
                f"the phase image looks like the opposite of the declared '{phase_convention}' convention: "
                f"its strongest sources (veins, deep grey matter, which are paramagnetic) come out "
                f"diamagnetic (tail ratio log {agree:.2f}); check --phase-convention"
            )
            warnings.warn(msg, ConventionWarning, stacklevel=2)
            notes.append(msg)
    geo = lesion_geometry(labels, affine)
    if chi_est is not None and st.phase_mode == "dipole-inversion":
        # the rim then shows as a paramagnetic band all round the lesion, as on QSM
        feats = lesion_features(chi_est, labels, affine, st, brain)
    else:
        feats = lesion_features(s, labels, affine, st, brain)
    table = geo.merge(feats, on="label", how="left")
    threshold, classifier = apply_rule(table, st, input_kind=input_kind, model=model)
    table["classifier"] = classifier
    table["input"] = input_kind
    table["segmentation"] = segmentation
    lut = np.zeros(int(labels.max()) + 1 if labels.size else 1, dtype=bool)
    if len(table):
        lut[table.loc[table["prl"], "label"].to_numpy(dtype=int)] = True
    prl_mask = lut[labels]
    return PRLResult(
        lesions=table,
        labels=labels,
        prl_mask=prl_mask,
        settings=st,
        input_kind=input_kind,
        phase_convention=phase_convention if input_kind == "phase" else None,
        threshold=threshold,
        classifier=classifier,
        segmentation=segmentation,
        convention_agreement=agree,
        affine=affine,
        image=np.asarray(image),
        flair=None if flair is None else np.asarray(flair),
        warnings=notes,
    )


__all__ = ["detect_prl"]
