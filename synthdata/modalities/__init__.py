"""Registered modalities: adding one is a module plus one line here."""

from __future__ import annotations

from synthdata.errors import BadInputError
from synthdata.modalities.base import Modality


def _table() -> Modality:
    from synthdata.modalities.table.modality import TableModality

    return TableModality()


def _ecg() -> Modality:
    from synthdata.modalities.signal.modality import SignalModality

    return SignalModality(kind="ecg")


def _eeg() -> Modality:
    from synthdata.modalities.signal.modality import SignalModality

    return SignalModality(kind="eeg")


def _image() -> Modality:
    from synthdata.modalities.image.modality import ImageModality

    return ImageModality()


MODALITIES = {"table": _table, "ecg": _ecg, "eeg": _eeg, "image": _image}


def get_modality(name: str) -> Modality:
    try:
        return MODALITIES[name]()
    except KeyError:
        raise BadInputError(f"unknown modality '{name}'; known: {', '.join(MODALITIES)}") from None
