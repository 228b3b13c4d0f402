"""One adapter between nngpbayes and both ArviZ lines.

ArviZ 0.x (Python 3.11) stores results in ``arviz.InferenceData``; ArviZ 1.x
(Python >= 3.12) in an ``xarray.DataTree``. Everything else in nngpbayes builds
and reads ArviZ results only through the functions below, so it never branches
on the version. Groups are built here as plain ``xarray.Dataset`` objects (not
with ``arviz.from_dict``, whose group-name heuristics differ between versions).
The MCMC diagnostics (:func:`rhat`, :func:`ess`) are ArviZ's, called on such data.
"""

import os
import warnings
from typing import Any

import arviz as az
import numpy as np
import xarray as xr

__all__ = [
    "arviz_major",
    "ess",
    "plot_trace",
    "from_netcdf",
    "get_group",
    "group_names",
    "rhat",
    "summary",
    "to_arviz",
    "to_netcdf",
]

#: Groups whose variables carry leading (chain, draw) axes.
SAMPLE_GROUPS = (
    "posterior", "posterior_predictive", "sample_stats", "prior",
    "prior_predictive", "log_likelihood", "predictions",
)  # fmt: skip
# Older 0.x releases warn that a custom group ("trained_ensemble", "metrics", ...)
# "is not defined in the InferenceData scheme"; custom groups are intended here.
_CUSTOM_GROUP_WARNING = "(?s).*InferenceData scheme"


def arviz_major() -> int:
    """Major version of the installed ArviZ.

    Returns
    -------
    major : int
        0 (results are ``arviz.InferenceData``) or 1 (``xarray.DataTree``).
    """
    return int(az.__version__.split(".")[0])


def _variable(group, name, value, dims, coords):
    """One ``xarray.Variable`` of a group, validated; chain/draw first in samples."""
    arr = np.asarray(value)
    where = f"groups[{group!r}][{name!r}]"
    lead = ["chain", "draw"] if group in SAMPLE_GROUPS else []
    if arr.ndim < len(lead):
        raise ValueError(
            f"{where}: expected shape (chain, draw, ...), got shape {arr.shape}"
        )
    if np.issubdtype(arr.dtype, np.number) and not np.all(np.isfinite(arr)):
        raise ValueError(f"{where}: expected finite values, got NaN or inf")
    event = dims.get(name, [f"{name}_dim_{i}" for i in range(arr.ndim - len(lead))])
    if len(lead) + len(event) != arr.ndim:
        raise ValueError(
            f"dims[{name!r}]={list(event)} names {len(event)} axes (chain/draw "
            f"excluded) but {where} has shape {arr.shape}"
        )
    for dim, size in zip(event, arr.shape[len(lead) :], strict=True):
        if dim in coords and len(coords[dim]) != size:
            raise ValueError(
                f"coords[{dim!r}] has {len(coords[dim])} values but axis {dim!r} "
                f"of {where} has length {size}"
            )
    return xr.Variable([*lead, *event], arr)


def _dataset(group, variables, dims, coords):
    """Return a group as an ``xarray.Dataset`` with integer chain/draw coordinates."""
    data = {k: _variable(group, k, v, dims, coords) for k, v in variables.items()}
    used = {d for var in data.values() for d in var.dims}
    own = {d: c for d, c in coords.items() if d in used}
    try:
        ds = xr.Dataset(data, coords=own)
    except ValueError as err:  # e.g. two variables disagree on the draw count
        raise ValueError(f"groups[{group!r}]: {err}") from err
    ids = {d: np.arange(ds.sizes[d]) for d in ("chain", "draw") if d in ds.dims}
    return ds.assign_coords(ids)


def to_arviz(
    groups: dict[str, dict[str, Any]],
    coords: dict[str, Any] | None = None,
    dims: dict[str, list[str]] | None = None,
) -> Any:
    """Build an ArviZ result from nested dictionaries of arrays.

    Parameters
    ----------
    groups : dict of {str: dict of {str: array-like}}
        Group name -> variable name -> array. Variables of the sample groups
        (``"posterior"``, ``"posterior_predictive"``, ``"sample_stats"``, and the
        other names in ``SAMPLE_GROUPS``) are ndarrays of shape
        ``(chain, draw, ...)``; every other group (``"observed_data"``,
        ``"constant_data"``, ``"trained_ensemble"``, ``"metrics"``, ...) holds
        plain arrays of any shape, scalars included. Values must be finite.
    coords : dict of {str: array-like of shape (n,)}, optional
        Dimension name -> coordinate values, applied in every group that uses the
        dimension; dimensions no variable uses are ignored.
    dims : dict of {str: list of str}, optional
        Variable name -> names of its axes after chain/draw, applied in every
        group holding that variable. Unnamed axes become ``"<var>_dim_<i>"``.
        Like ``coords``, a shared schema: entries for absent variables are ignored.

    Returns
    -------
    data : arviz.InferenceData or xarray.DataTree
        ``InferenceData`` on ArviZ 0.x, ``DataTree`` (one child per group) on 1.x.
    """
    coords = {d: np.asarray(c) for d, c in (coords or {}).items()}
    dims = dict(dims or {})
    for d, c in coords.items():
        if c.ndim != 1 or (np.issubdtype(c.dtype, np.number) and np.isnan(c).any()):
            raise ValueError(f"coords[{d!r}]: expected 1-D values without NaN")
    if not groups:
        raise ValueError("groups: expected at least one group, got none")
    sets = {g: _dataset(g, v, dims, coords) for g, v in groups.items()}
    if arviz_major() >= 1:
        return xr.DataTree.from_dict(sets)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", _CUSTOM_GROUP_WARNING, UserWarning)
        return az.InferenceData(**sets)


def to_netcdf(data: Any, path: str | os.PathLike) -> str:
    """Write every group of ``data`` to one netCDF4/HDF5 file (h5netcdf engine).

    Parameters
    ----------
    data : arviz.InferenceData or xarray.DataTree
        A result of :func:`to_arviz`; custom groups are kept.
    path : str or os.PathLike
        File to write; an existing file is overwritten.

    Returns
    -------
    path : str
        ``path`` as a string.
    """
    data.to_netcdf(path, engine="h5netcdf")
    return os.fspath(path)


def from_netcdf(path: str | os.PathLike) -> Any:
    """Read a file written by :func:`to_netcdf` into memory and close it.

    Parameters
    ----------
    path : str or os.PathLike
        File written by :func:`to_netcdf`.

    Returns
    -------
    data : arviz.InferenceData or xarray.DataTree
        Same kind as :func:`to_arviz` returns, with every group of the file.
    """
    if arviz_major() >= 1:
        with xr.open_datatree(path, engine="h5netcdf") as tree:
            return tree.load()
    with warnings.catch_warnings(), az.rc_context({"data.load": "eager"}):
        warnings.filterwarnings("ignore", _CUSTOM_GROUP_WARNING, UserWarning)
        return az.from_netcdf(path, engine="h5netcdf")


def group_names(data: Any) -> list[str]:
    """Names of the groups present in ``data``.

    Parameters
    ----------
    data : arviz.InferenceData or xarray.DataTree

    Returns
    -------
    names : list of str
        Group names, in storage order.
    """
    return list(data.children) if arviz_major() >= 1 else list(data.groups())


def get_group(data: Any, name: str) -> xr.Dataset:
    """One group of ``data``.

    Parameters
    ----------
    data : arviz.InferenceData or xarray.DataTree
    name : str
        Group name, one of :func:`group_names`.

    Returns
    -------
    group : xarray.Dataset
        Its variables; sample groups have dims ``("chain", "draw", ...)``.

    Raises
    ------
    KeyError
        If ``data`` has no group ``name``.
    """
    if name not in (names := group_names(data)):
        raise KeyError(f"name: no group {name!r} in data; groups are {names}")
    return data[name].to_dataset() if arviz_major() >= 1 else data[name]


def summary(data: Any, var_names: list[str] | None = None):
    """``arviz.summary`` of the posterior group, unrounded.

    Parameters
    ----------
    data : arviz.InferenceData or xarray.DataTree
        Must hold a ``"posterior"`` group.
    var_names : list of str, optional
        Posterior variables to summarise; all by default.

    Returns
    -------
    table : pandas.DataFrame of shape (n_scalar_parameters, n_columns)
        One row per scalar parameter (``"w[0]"`` for vector elements). Columns in
        both lines: ``mean, sd, mcse_mean, mcse_sd, ess_bulk, ess_tail, r_hat``.
        The interval columns differ: ``hdi_3%, hdi_97%`` (0.x, 94% HDI) and
        ``eti89_lb, eti89_ub`` (1.x, 89% equal-tailed interval).
    """
    if "posterior" not in group_names(data):
        raise ValueError("data: expected a 'posterior' group, got none")
    return az.summary(data, var_names=var_names, round_to="none")


def _posterior_names(data, var_names):
    """Return the posterior variables to diagnose; raise ValueError if there is none."""
    if "posterior" not in group_names(data):
        raise ValueError("data: expected a 'posterior' group, got none")
    names = list(get_group(data, "posterior").data_vars)
    return names if var_names is None else list(var_names)


def rhat(data: Any, var_names: list[str] | None = None) -> dict[str, float]:
    """ArviZ's rank-normalised split-R̂ of each scalar posterior variable.

    ``arviz.rhat(data, method="rank")`` on both lines (Vehtari et al. 2021,
    arXiv:1903.08008): the larger of the R̂ of the rank-normalised split chains and
    of their folded version.

    Parameters
    ----------
    data : arviz.InferenceData or xarray.DataTree
        A result of :func:`to_arviz` with a ``"posterior"`` group whose variables
        have shape (chain, draw).
    var_names : list of str, optional
        Posterior variables to diagnose; all by default.

    Returns
    -------
    rhat : dict of {str: float}
        Variable name -> R̂; 1 for well-mixed chains, > 1.01 signals poor mixing;
        NaN for constant chains.
    """
    names = _posterior_names(data, var_names)
    with np.errstate(invalid="ignore", divide="ignore"):  # constant chains: 0/0
        values = az.rhat(data, var_names=names, method="rank")
    return {n: float(values[n]) for n in names}


def ess(data: Any, var_names: list[str] | None = None) -> dict[str, float]:
    """ArviZ's bulk effective sample size of each scalar posterior variable.

    ``arviz.ess(data, method="bulk")`` on both lines: the ESS of the
    rank-normalised split chains (Vehtari et al. 2021, arXiv:1903.08008), the one
    ESS nngpbayes reports.

    Parameters
    ----------
    data : arviz.InferenceData or xarray.DataTree
        A result of :func:`to_arviz` with a ``"posterior"`` group whose variables
        have shape (chain, draw).
    var_names : list of str, optional
        Posterior variables to diagnose; all by default.

    Returns
    -------
    ess : dict of {str: float}
        Variable name -> bulk ESS over all chains together.
    """
    names = _posterior_names(data, var_names)
    values = az.ess(data, var_names=names, method="bulk")
    return {n: float(values[n]) for n in names}


def plot_trace(data: Any, path: str | os.PathLike, var_names=None) -> str:
    """ArviZ's trace plot of the posterior group, saved as a PNG.

    ``arviz.plot_trace`` on ArviZ 0.x, ``arviz.plot_trace_dist`` (arviz-plots, with
    the matplotlib backend) on 1.x. Returns the path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if arviz_major() == 0:
        with warnings.catch_warnings():
            # ArviZ 0.x calls a matplotlib API deprecated in matplotlib 3.11, once
            # per panel; the figure is unaffected
            warnings.filterwarnings("ignore", message=".*alias_mapping")
            axes = az.plot_trace(data, var_names=var_names)
        fig = np.ravel(axes)[0].figure
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
    else:
        plots = az.plot_trace_dist(data, var_names=var_names, backend="matplotlib")
        plots.savefig(path, dpi=100)
        plt.close("all")
    return os.fspath(path)
