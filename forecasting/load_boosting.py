"""Base load by gradient boosting (scikit-learn) on calendar and lag features.

The same scale-free lag features as the regression, plus the slot of day, the day type (public
holidays count as Sundays, where the site's country is known) and the same day last week: a
model that can learn an office's weekend or a shop's opening hours, which a lag regression
cannot. Fitted on the absolute error, like everything a plan pays for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from smartcharge.forecasting.calendar import day_types
from smartcharge.forecasting.load_features import LoadFeatures

LAG_FEATURES = ("yesterday", "week_mean", "last_week", "yesterday_level", "evening", "last_hour")
TRAINING_DAYS = 365
HALF_LIFE_DAYS = 60.0
MIN_TRAINING_DAYS = 28


@dataclass(frozen=True)
class BoostedLoadModel:
    model: HistGradientBoostingRegressor
    country: str | None

    def predict_row(self, features: LoadFeatures, row: int) -> np.ndarray:
        with threadpool_limits(1, user_api="openmp"):
            return self.model.predict(_design(features, self.country, np.array([row]))[0])


def _design(features: LoadFeatures, country: str | None, rows: np.ndarray) -> np.ndarray:
    """rows × slots × (lag features, slot of day, day type), flattened per row."""
    lags = features.select(LAG_FEATURES)[rows]
    slots = lags.shape[1]
    slot = np.broadcast_to(np.arange(slots)[None, :, None], (len(rows), slots, 1))
    kind = np.broadcast_to(
        day_types(features.days[rows], country)[:, None, None], (len(rows), slots, 1)
    )
    return np.concatenate([lags, slot, kind], axis=-1)


def fit_boosted_load(features: LoadFeatures, country: str | None) -> BoostedLoadModel:
    known_level = np.isfinite(features.level_kw)
    rows = np.flatnonzero(known_level)[-TRAINING_DAYS:]
    if len(rows) < MIN_TRAINING_DAYS:
        raise ValueError(
            f"gradient boosting needs {MIN_TRAINING_DAYS} days with history before them; "
            f"this history has {len(rows)}"
        )
    x = _design(features, country, rows).reshape(-1, len(LAG_FEATURES) + 2)
    y = features.target[rows].reshape(-1)
    age = (len(features.level_kw) - 1 - rows).astype(float)
    weight = np.repeat(0.5 ** (age / HALF_LIFE_DAYS), features.target.shape[1])
    known = np.isfinite(y)
    model = HistGradientBoostingRegressor(
        loss="absolute_error",
        max_iter=200,
        learning_rate=0.05,
        max_leaf_nodes=15,
        min_samples_leaf=100,
        categorical_features=[len(LAG_FEATURES) + 1],
        random_state=0,
    )
    # One thread: as fast here as two, and a pool of solver processes each spinning up OpenMP
    # threads on the same cores slows every fit by an order of magnitude.
    with threadpool_limits(1, user_api="openmp"):
        model.fit(x[known], y[known], sample_weight=weight[known])
    return BoostedLoadModel(model, country)
