"""Audits of synthetic physiological signals (ECG, EEG): the audit view and the signal fidelity audits."""
