"""Medical-image modality: read PNG/JPEG folders, MedMNIST .npz, DICOM and NIfTI; write PNG, .npz and DICOM."""
