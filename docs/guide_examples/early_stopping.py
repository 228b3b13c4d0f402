"""
Early stopping by cross-validation
==================================

:class:`~nngpbayes.GradientFlowRegressor` defaults to ``time=np.inf``: the trained
ensemble of infinitely wide networks then interpolates the training data, noise
included. On real, noisy data a finite training time generalises better, and the
training time is an ordinary hyperparameter: choose it by cross-validation.

``predict`` takes an array of times and reuses one eigendecomposition of the NTK,
so a whole validation curve costs one ``fit`` per fold. (``GridSearchCV`` over
``time`` gives the same choice, with one fit per fold *and* per time.)
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, train_test_split

from nngpbayes import GradientFlowRegressor

X, y = load_diabetes(return_X_y=True)
X = (X - X.mean(0)) / X.std(0)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
mu, sd = y_train.mean(), y_train.std()  # standardise the targets


def make_model():
    return GradientFlowRegressor(depth=2, weight_variance=2.0, bias_variance=0.1)


times = np.r_[np.logspace(-3, 1, 17), np.inf]

# %%
# Validation curve: one fit per fold, all times at once
# -----------------------------------------------------
scores = np.zeros((5, len(times)))
for k, (fit, val) in enumerate(KFold(5, shuffle=True, random_state=0).split(X_train)):
    model = make_model().fit(X_train[fit], (y_train[fit] - mu) / sd)
    pred = model.predict(X_train[val], time=times) * sd + mu  # (n_times, n_val)
    scores[k] = [r2_score(y_train[val], p) for p in pred]
best = times[np.argmax(scores.mean(0))]
print(f"cross-validated training time: t = {best:.3g}")

# %%
# Held-out performance
# --------------------
model = make_model().fit(X_train, (y_train - mu) / sd)
r2_inf = r2_score(y_test, model.predict(X_test) * sd + mu)
r2_best = r2_score(y_test, model.predict(X_test, time=best) * sd + mu)
print(f"held-out R^2 at t = inf (the default): {r2_inf:.2f}")
print(f"held-out R^2 at t = {best:.3g} (cross-validated): {r2_best:.2f}")

fig, ax = plt.subplots(figsize=(7, 4))
t_plot = np.where(np.isinf(times), times[-2] * 10, times)
ax.semilogx(t_plot, scores.mean(0), "o-", label="5-fold CV R²")
ax.fill_between(
    t_plot,
    scores.mean(0) - scores.std(0),
    scores.mean(0) + scores.std(0),
    alpha=0.2,
)
ax.axvline(best, color="k", ls="--", lw=1, label=f"chosen t = {best:.3g}")
ax.set(
    xlabel="training time t (rightmost point: t = ∞)",
    ylabel="R²",
    title="early stopping of the infinite-width ensemble (diabetes data)",
)
ax.legend()
fig.tight_layout()
