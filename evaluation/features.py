"""Public preprocessing and a classifier shared by the audits that train models (utility, detection).

Category codes follow the schema's public category order (values outside the list, seen in the audited
frames, are appended); numbers stay floats; missing values are NaN, left to the model's native handling.
Categorical columns with up to 255 levels are passed to the gradient-boosted model as native categoricals,
larger ones as ordinal codes.

Privacy caveat: models fitted here see private records; they live only inside an audit and are discarded.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from evaluation.memorization.encoding import as_float, as_strings
from synthdata.modalities.table.schema import CategoricalColumn, TableSchema

_MAX_NATIVE_CATEGORIES = 255


def vocabulary(name: str, schema: TableSchema, frames: Sequence[pd.DataFrame]) -> list[str]:
    column = schema.columns[name]
    public = list(column.categories) if isinstance(column.categories, list) else []
    seen: set[str] = set()
    for frame in frames:
        seen.update(v for v in as_strings(frame[name]).unique() if v is not None)
    return [*public, *sorted(seen.difference(public))]


class ModelFeatures:
    """Same public preprocessing for both arms: numbers as float, categories as codes, missing as NaN."""

    def __init__(self, *, schema: TableSchema, columns: list[str], frames: Sequence[pd.DataFrame]) -> None:
        self.schema = schema
        self.columns = columns
        self.vocabularies = {
            name: vocabulary(name, schema, frames)
            for name in columns if isinstance(schema.columns[name], CategoricalColumn)
        }
        self.native = np.array(
            [len(self.vocabularies.get(name, ())) in range(1, _MAX_NATIVE_CATEGORIES + 1) for name in columns],
            dtype=bool,
        )
        self.categorical = np.array([name in self.vocabularies for name in columns], dtype=bool)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(frame), len(self.columns)), dtype=np.float64)
        for j, name in enumerate(self.columns):
            if name in self.vocabularies:
                codes = pd.Categorical(as_strings(frame[name]), categories=self.vocabularies[name]).codes
                out[:, j] = np.where(codes < 0, np.nan, codes)
            else:
                out[:, j] = as_float(frame[name], self.schema.columns[name])
        return out


def fit_predict_proba(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, *, n_classes: int, native: np.ndarray,
    seed: int, categorical: np.ndarray | None = None,
) -> np.ndarray:
    """Gradient-boosting class probabilities (n_test, n_classes); a single-class training set predicts that
    class.  ``native`` marks the columns passed as native categoricals; ``categorical`` is not used here."""
    present = np.unique(y_train)
    proba = np.zeros((len(x_test), n_classes))
    if present.size < 2:
        proba[:, present] = 1.0
        return proba
    _, counts = np.unique(y_train, return_counts=True)
    informative = ~np.all(np.isnan(x_train), axis=0)  # an all-missing column crashed scikit-learn's binning
    if not informative.any():
        proba[:, present] = counts / counts.sum()  # nothing to learn from: the training class shares
        return proba
    x_train, x_test, native = x_train[:, informative], x_test[:, informative], native[informative]
    # Early stopping holds out a stratified 10%: it needs every class in it (tiny sets or single-row classes
    # made scikit-learn raise and crash the audit).
    early = int(0.1 * len(y_train)) >= present.size and counts.min() >= 2
    model = HistGradientBoostingClassifier(
        categorical_features=native if native.any() else None, max_iter=200 if early else 100, learning_rate=0.1,
        early_stopping=early, validation_fraction=0.1, n_iter_no_change=10, random_state=seed,
    )
    # One OpenMP thread: the models are small, and spinning OpenMP threads slow down by 10-30x when other
    # processes (the pipeline, tests) share the cores.
    with threadpool_limits(limits=1, user_api="openmp"):
        model.fit(x_train, y_train)
        proba[:, model.classes_] = model.predict_proba(x_test)
    return proba


def fit_predict_logistic(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, *, n_classes: int, native: np.ndarray,
    seed: int, categorical: np.ndarray | None = None,
) -> np.ndarray:
    """Logistic-regression class probabilities: the ``categorical`` columns (default: ``native``) one-hot
    encoded (levels with fewer than 5 training rows pooled), numbers median-imputed and standardised."""
    present = np.unique(y_train)
    proba = np.zeros((len(x_test), n_classes))
    if present.size < 2:
        proba[:, present] = 1.0
        return proba
    mask = native if categorical is None else categorical
    categorical, numeric = np.flatnonzero(mask), np.flatnonzero(~mask)

    def codes(x: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(x[:, categorical]), -1, x[:, categorical])

    steps = []
    if categorical.size:
        steps.append(("categorical", make_pipeline(FunctionTransformer(codes),
                                                    OneHotEncoder(handle_unknown="ignore", min_frequency=5)),
                      list(range(x_train.shape[1]))))
    if numeric.size:
        steps.append(("numeric", make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                                                StandardScaler()), list(numeric)))
    model = make_pipeline(ColumnTransformer(steps), LogisticRegression(max_iter=300, C=1.0, random_state=seed))
    with threadpool_limits(limits=1):
        model.fit(x_train, y_train)
        proba[:, model.classes_] = model.predict_proba(x_test)
    return proba


# The model families the utility audits train (name -> fit-and-predict function).
FAMILIES = {"gradient_boosting": fit_predict_proba, "logistic_regression": fit_predict_logistic}
