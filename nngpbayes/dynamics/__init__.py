"""Analytic training dynamics of infinitely wide networks (:ref:`theory-4`).

:class:`GradientFlowRegressor` is the scikit-learn estimator; :class:`LinearFlow` the
general linear-forward-map solution it is built on (also used by closure tests).
"""

from ._linear_flow import LinearFlow
from ._regressor import GradientFlowRegressor

__all__ = ["GradientFlowRegressor", "LinearFlow"]
