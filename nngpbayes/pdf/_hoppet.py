"""HOPPET evolution of a non-singlet input to F2p - F2d (private).

HOPPET (GPL-3.0, PyPI ``hoppet``) is called at runtime only. Its state is global
(one Fortran instance per process): the functions here are not thread-safe.

References
----------
.. [1] G. P. Salam, J. Rojo, Comput. Phys. Commun. 180 (2009) 120,
   arXiv:0804.3755; A. Karlberg et al., arXiv:2510.09310 (structure functions).
.. [2] NNPDF collaboration, arXiv:2109.02653, section 2 (theory settings).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import sys

import numpy as np

__all__ = ["TheorySettings", "hoppet_session", "structure_function_y"]

ORDERS = {"LO": 1, "NLO": 2, "NNLO": 3}
_MZ, _MW = 91.1876, 80.377


@dataclasses.dataclass(frozen=True)
class TheorySettings:
    r"""Theory choices of the forward map (NNPDF4.0's by default [2]_).

    Attributes
    ----------
    q0 : float
        Scale of the input xT3 (GeV); NNPDF4.0 parametrises at 1.65 GeV.
    order : {"NNLO", "NLO", "LO"}
        Perturbative order of the evolution, of αs running and of the
        coefficient functions.
    alphas_mz : float
        :math:`\alpha_s(M_Z)`, run to lower scales at the same order.
    heavy_masses : tuple of float
        Charm, bottom, top pole masses (GeV): flavour thresholds.
    fixed_nf : int or None
        None: variable flavour number; an int fixes n_f (a mis-matched αs/n_f
        setting, for checks only).
    dy : float
        HOPPET's internal ln(1/x) spacing.
    """

    q0: float = 1.65
    order: str = "NNLO"
    alphas_mz: float = 0.118
    heavy_masses: tuple = (1.51, 4.92, 172.5)
    fixed_nf: int | None = None
    dy: float = 0.05

    def as_dict(self) -> dict:
        """JSON-serialisable form (for cache keys)."""
        return dataclasses.asdict(self)


def _flush_c_streams():
    """Flush C stdio buffers (HOPPET's banner is buffered C/Fortran output)."""
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):  # no libc handle (Windows)
        pass


@contextlib.contextmanager
def _quiet_stdout(fds=(1, 2)):
    """Silence HOPPET's banner and grid warnings (file descriptors 1 and 2)."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        saved = [os.dup(fd) for fd in fds]
    except OSError:  # no real descriptors (embedded interpreters): leave as is
        yield
        return
    with open(os.devnull, "w") as devnull:
        for fd in fds:
            os.dup2(devnull.fileno(), fd)
        try:
            yield
        finally:
            _flush_c_streams()
            for fd, copy in zip(fds, saved, strict=True):
                os.dup2(copy, fd)
                os.close(copy)


def import_hoppet():
    """Import HOPPET with gfortran's standard units unbuffered.

    HOPPET prints a banner and grid warnings from Fortran; gfortran buffers them
    and would flush them at exit, outside :func:`_quiet_stdout`. The variable is
    read once, when the Fortran runtime loads, and only if not set already.
    """
    os.environ.setdefault("GFORTRAN_UNBUFFERED_PRECONNECTED", "y")
    import hoppet

    return hoppet


@contextlib.contextmanager
def hoppet_session(settings: TheorySettings, x_min: float, q_max: float):
    """Set HOPPET up for ``settings`` on x >= ``x_min``, Q <= ``q_max``; clean up."""
    hp = import_hoppet()

    nloop = ORDERS[settings.order]
    ymax = float(np.log(1.0 / x_min)) + 1.0
    q_lo, q_hi = min(1.0, 0.9 * settings.q0), max(2.0 * q_max, 20.0)
    with _quiet_stdout():
        if settings.fixed_nf is None:
            hp.SetPoleMassVFN(*settings.heavy_masses)
            nflav = -1
        else:
            hp.SetFFN(settings.fixed_nf)
            nflav = settings.fixed_nf
        dy = settings.dy
        hp.StartExtended(ymax, dy, q_lo, q_hi, dy / 4.0, nloop, -6, hp.factscheme_MSbar)
        hp.StartStrFctExtended(nloop, nflav, hp.scale_choice_Q, 1.0, True, _MW, _MZ)
        hp.PreEvolve(settings.alphas_mz, _MZ, nloop, 1.0, settings.q0)
    try:
        yield hp
    finally:
        hp.DeleteAll()


def _t3_callback(t3):
    """HOPPET input of a pure non-singlet: xu = xubar = xT3/4 = -xd = -xdbar."""

    def callback(x, q):
        pdf = np.zeros(13)
        value = float(t3(x)) / 4.0 if 0.0 < x < 1.0 else 0.0
        pdf[6 + 2] = pdf[6 - 2] = value  # u, ubar
        pdf[6 + 1] = pdf[6 - 1] = -value  # d, dbar
        return pdf

    return callback


def evolve_and_measure(hp, t3, x, q, nloop: int) -> np.ndarray:
    r"""One cached evolution of ``t3`` and :math:`F_2^{p,\gamma}` at (x, Q).

    With :math:`xu = x\bar u = xT_3/4 = -xd = -x\bar d` and no other flavour,
    the isoscalar (per-nucleon deuteron) combination vanishes, so the proton's
    electromagnetic :math:`F_2` is :math:`Y = F_2^p - F_2^d` (no nuclear
    corrections; the ``DEUTERON`` uncertainties of the data cover them).
    """
    with _quiet_stdout(fds=(1,)):
        hp.CachedEvolve(_t3_callback(t3))
        hp.InitStrFct(nloop, False, 1.0, 1.0)
    return np.array(
        [hp.StrFctNoMu(xi, qi)[hp.iF2EM] for xi, qi in zip(x, q, strict=True)]
    )


def structure_function_y(t3_functions, x, q2, settings, *, progress=None):
    """:math:`Y(x, Q^2)` for each input :math:`xT_3(x)` at ``settings.q0``.

    Parameters
    ----------
    t3_functions : sequence of callables
        Each maps a float x to xT3(x) at Q0.
    x, q2 : ndarray of shape (n,)
        Data kinematics (Q² in GeV²).
    settings : TheorySettings
    progress : callable, optional
        Wraps the iterable of functions (a tqdm bar).

    Returns
    -------
    ndarray of shape (n, len(t3_functions))
    """
    x, q = np.asarray(x, dtype=np.float64), np.sqrt(np.asarray(q2, dtype=np.float64))
    funcs = list(t3_functions)
    items = progress(funcs) if progress is not None else funcs
    columns = []
    with hoppet_session(settings, float(x.min()), float(q.max())) as hp:
        for t3 in items:
            columns.append(evolve_and_measure(hp, t3, x, q, ORDERS[settings.order]))
    return np.stack(columns, axis=1)
