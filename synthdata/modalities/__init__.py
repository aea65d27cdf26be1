"""Registered modalities: adding one is a package plus one ``register(...)`` line here.

A ``Registration`` says everything the rest of synthdata needs to know about a modality without importing
its (heavy) implementation: the class of its declared settings (the spec's ``dataset.<section>``, or None
when it has none, as tables, whose declared facts are a schema file), its model presets and a shipped
example spec (shown in the Dagster UI, named in CLI hints).  The implementation is built by ``factory``
when a run needs it.  What the audits read is the modality's ``view`` (``synthdata.views``): the audits,
distance spaces and report figures registered for that view apply without a line elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from synthdata.config import ModalitySettings
from synthdata.errors import BadInputError
from synthdata.modalities.base import AnyModality
from synthdata.modalities.image import settings as image_settings
from synthdata.modalities.signal import settings as signal_settings
from synthdata.modalities.table import settings as table_settings

_SHIPPED = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class Registration:
    """One modality: its name, how to build it, its declared settings and presets, an example spec."""

    name: str
    factory: Callable[[], AnyModality]
    presets: Mapping[str, Mapping[str, float | int]]
    settings: type[ModalitySettings] | None = None
    example: Path | None = None


def _table() -> AnyModality:
    from synthdata.modalities.table.modality import TableModality

    return TableModality()


def _signal(kind: str) -> Callable[[], AnyModality]:
    def build() -> AnyModality:
        from synthdata.modalities.signal.modality import SignalModality

        return SignalModality(kind=kind)

    return build


def _image() -> AnyModality:
    from synthdata.modalities.image.modality import ImageModality

    return ImageModality()


def _relational() -> AnyModality:
    from synthdata.modalities.relational.modality import RelationalModality

    return RelationalModality()


MODALITIES: dict[str, Registration] = {}


def register(registration: Registration) -> None:
    """Add (or replace) a modality under ``registration.name``."""
    MODALITIES[registration.name] = registration


register(Registration("table", _table, table_settings.PRESETS, example=_SHIPPED / "demo.yaml"))
register(Registration("ecg", _signal("ecg"), signal_settings.ECG_PRESETS, signal_settings.SignalSpec,
                      example=_SHIPPED / "ecg.yaml"))
register(Registration("eeg", _signal("eeg"), signal_settings.PRESETS, signal_settings.SignalSpec,
                      example=_SHIPPED / "eeg.yaml"))
register(Registration("image", _image, image_settings.PRESETS, image_settings.ImageSpec,
                      example=_SHIPPED / "breastmnist.yaml"))
register(Registration("relational", _relational, table_settings.PRESETS, example=_SHIPPED / "ehr_example.yaml"))


def registration(name: str) -> Registration:
    """The registration of modality ``name``; BadInputError naming the known ones otherwise."""
    try:
        return MODALITIES[name]
    except KeyError:
        raise BadInputError(f"unknown modality '{name}'; known: {', '.join(MODALITIES)}") from None


def get_modality(name: str) -> AnyModality:
    """A fresh instance of modality ``name``."""
    return registration(name).factory()
