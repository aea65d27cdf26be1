"""Audits of synthetic 2-D medical images: the audit view, an encoder fitted inside the audit, fidelity audits,
the pixel-space distance for the shared memorization audits, and report figures of synthetic images."""
