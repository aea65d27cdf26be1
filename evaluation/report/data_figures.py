"""The report's data section: figures of the data itself, chosen by the kind of view, not by modality.

Tables get one real-vs-synthetic plot per column with small cells suppressed
(``evaluation.report.columns``); signals and images get examples of SYNTHETIC records only
(``evaluation.signals.plots``, ``evaluation.images.plots``).  A modality that hands the audits one of these
views gets its figures without a line here; a new kind of view adds one entry to ``FIGURES``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from evaluation.base import MIN_CELL_COUNT
from evaluation.images.plots import sample_grid
from evaluation.report.columns import column_plots
from evaluation.signals.plots import example_traces
from synthdata.views.images import ImageAuditSet
from synthdata.views.signals import SignalSet


def _columns(*, train: Any, synthetic: Any, schema: Any) -> list[tuple[str, str]]:
    return column_plots(train=train, synthetic=synthetic, schema=schema)


def _traces(*, train: Any, synthetic: Any, schema: Any) -> list[tuple[str, str]]:
    return example_traces(synthetic=synthetic, schema=schema)


def _grid(*, train: Any, synthetic: Any, schema: Any) -> list[tuple[str, str]]:
    return sample_grid(synthetic=synthetic, schema=schema)


#: view type -> (figures, section title, what the figures show)
FIGURES: dict[type, tuple[Callable[..., list[tuple[str, str]]], str, str]] = {
    pd.DataFrame: (_columns, "Columns: real (training) vs. synthetic",
                   f"Distributions only. Categories and histogram bins holding fewer than {MIN_CELL_COUNT} real "
                   "records are merged into larger groups or hidden."),
    SignalSet: (_traces, "Signals: synthetic examples",
                "Synthetic windows only, per class; no real recording is shown. Real data appear only as aggregates "
                "in the audits' figures (spectra averaged over many windows, pooled amplitude histograms)."),
    ImageAuditSet: (_grid, "Images: synthetic examples",
                    "Synthetic images only, per class; no real image is shown. Real data appear only as aggregates in "
                    "the audits' figures (pooled intensity histograms, distances)."),
}


def _entry(view: Any) -> tuple[Callable[..., list[tuple[str, str]]], str, str] | None:
    return next((FIGURES[kind] for kind in type(view).__mro__ if kind in FIGURES), None)


def data_figures(*, train: Any, synthetic: Any, schema: Any) -> list[tuple[str, str]]:
    """(title, base64 PNG) figures of the data section for this kind of view (none for an unknown view)."""
    entry = _entry(synthetic)
    return [] if entry is None else entry[0](train=train, synthetic=synthetic, schema=schema)


def data_section(view: Any) -> tuple[str, str]:
    """The data section's title and the sentence saying what its figures show."""
    entry = _entry(view) or FIGURES[pd.DataFrame]
    return entry[1], entry[2]
