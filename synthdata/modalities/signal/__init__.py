"""Signal modality (ECG, EEG): read, window and write recordings."""
