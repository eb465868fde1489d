"""Helpers of the reader tests: tiny DICOM series written from our own arrays with pydicom."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pytest


def write_dicom_series(
    folder: str | os.PathLike,
    data: np.ndarray,
    affine_ras: np.ndarray,
    *,
    series_number: int,
    description: str,
    image_type: Sequence[str],
    echo_time_ms: float = 20.0,
    field_strength_t: float = 3.0,
    manufacturer: str = "SIEMENS",
    rescale: tuple[float, float] | None = None,
    echo_number: int = 1,
    seed: int = 0,
) -> None:
    """One MR series, one file per slice, of stored 12-bit values ``data`` (i, j, k).

    Voxel axis i runs along the DICOM rows (columns of the pixel array), j along the columns,
    k across slices; ``affine_ras`` (NIfTI RAS) is turned into DICOM's LPS patient space.
    ``rescale`` = (RescaleSlope, RescaleIntercept), e.g. Siemens phase (2, -4096).
    """
    import pydicom  # noqa: F401  (dev dependency)
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    os.makedirs(folder, exist_ok=True)
    study = generate_uid(entropy_srcs=[f"study-{seed}"])
    ser = generate_uid(entropy_srcs=[f"series-{seed}-{series_number}-{echo_number}"])
    frame = generate_uid(entropy_srcs=[f"frame-{seed}"])
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ np.asarray(affine_ras, float)
    zooms = np.sqrt((lps[:3, :3] ** 2).sum(0))
    row_dir, col_dir = lps[:3, 0] / zooms[0], lps[:3, 1] / zooms[1]
    ni, nj, nk = data.shape
    for k in range(nk):
        sop = generate_uid(entropy_srcs=[f"sop-{seed}-{series_number}-{echo_number}-{k}"])
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, sop
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, ser, frame
        ds.PatientName, ds.PatientID, ds.PatientPosition = "SIMULATED^PHANTOM", "SIM001", "HFS"
        ds.StudyDate = ds.SeriesDate = "20240101"
        ds.StudyTime, ds.AcquisitionTime = "120000", "120000.000"
        ds.Modality, ds.Manufacturer = "MR", manufacturer
        ds.MagneticFieldStrength = field_strength_t
        ds.ImagingFrequency = 42.577478 * field_strength_t
        ds.ImageType = list(image_type)
        ds.SeriesDescription = ds.ProtocolName = description
        ds.SeriesNumber, ds.InstanceNumber, ds.AcquisitionNumber = series_number, k + 1, 1
        ds.EchoTime, ds.EchoNumbers, ds.RepetitionTime, ds.FlipAngle = (
            echo_time_ms,
            echo_number,
            30.0,
            15,
        )
        ds.ScanningSequence, ds.SequenceVariant, ds.MRAcquisitionType = "GR", "SP", "3D"
        ds.ImagePositionPatient = [float(x) for x in (lps @ np.array([0.0, 0.0, k, 1.0]))[:3]]
        ds.ImageOrientationPatient = [float(x) for x in np.r_[row_dir, col_dir]]
        ds.PixelSpacing = [float(zooms[1]), float(zooms[0])]
        ds.SliceThickness = ds.SpacingBetweenSlices = float(zooms[2])
        ds.Rows, ds.Columns = nj, ni
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        if rescale is not None:
            ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = rescale[0], rescale[1], "US"
        ds.PixelData = np.ascontiguousarray(data[:, :, k].T.astype(np.uint16)).tobytes()
        name = f"IM_{series_number:03d}_{echo_number}_{k:04d}.dcm"
        ds.save_as(os.path.join(folder, name), enforce_file_format=True)


@pytest.fixture
def dicom_writer():
    """The :func:`write_dicom_series` helper."""
    return write_dicom_series
