r"""The ensemble's covariance at many times (private to :mod:`nngpbayes.dynamics`).

With A_t = P G_t (P = Θ_*g W), M = Wᵀ K_gg W and Q = Wᵀ K_g* (:ref:`theory-4`),

.. math::

    \text{cov}_t = K_{**} - A_t Q - Q^T A_t^T + A_t M A_t^T\ [+ A_t A_t^T].

**Factored form**, used when M is positive definite: with an upper-triangular
factor M = R Rᵀ and V = R⁻¹ Q, so that Q = R V,

.. math::

    \text{cov}_t = (K_{**} - V^T V) + (A_t R - V^T)(A_t R - V^T)^T\ [+ A_t A_t^T].

The first bracket, the covariance of φ(x*) given the modes Wᵀφ(X_grid) (with
F = C = I, K** − K*X K⁻¹ KX*, the noise-free NNGP posterior), does not depend on
t. Each time then costs one triangular product A_t R (BLAS trmm, n_test·n²/2
multiply-adds) and one symmetric rank-n update (syrk, n_test²·n/2): half of the
general products A_t M and (A_t M − 2Q) A_tᵀ of the direct form. Both brackets are
positive semi-definite, so the result is too, up to round-off.

Modes are in descending eigenvalue order, and R is upper triangular, so the modes
that a time has finished learning, g_t(s) = 1/s to the last bit (η s t ≳ 37), are a
leading block [0, m_t) whose part of A_t R, Y_m = (P S⁻¹)[:, :m] R[:m, :], is the
same at every time: it is accumulated once, in fixed blocks of modes (so that a
time gives the same bits alone or in an array), and each time multiplies only its
still-learning block, n_test·(n − m_t)²/2.

**Direct form**, the fallback when the Cholesky factorisation of M fails (a singular
M: fewer grid points than data, or duplicated inputs): cov_t = K** +
sym((A_t M − 2Q) A_tᵀ).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
from scipy.linalg.blas import dsyrk, dtrmm

__all__ = ["Spread", "prior_moments", "prior_root"]

#: Modes per block of the learned part Y_m (see the module docstring).
_BLOCK = 32


def prior_moments(w, k):
    """M = Wᵀ K W, symmetrised, and its factor R from :func:`prior_root`.

    Parameters
    ----------
    w : ndarray of shape (n_grid, n_data)
        W = (L⁻¹F)ᵀU.
    k : ndarray of shape (n_grid, n_grid)
        K on the grid inputs.

    Returns
    -------
    m : ndarray of shape (n_data, n_data)
    root : ndarray of shape (n_data, n_data) or None
    """
    m = w.T @ (k @ w)
    m = 0.5 * (m + m.T)
    return m, prior_root(m)


def prior_root(m):
    """Upper-triangular R with M = R Rᵀ, or ``None`` if M is not positive definite.

    The Cholesky factor of M with rows and columns reversed, reversed back.

    Parameters
    ----------
    m : ndarray of shape (n_data, n_data)
        M = Wᵀ K W, symmetric.

    Returns
    -------
    ndarray of shape (n_data, n_data) or None
    """
    try:
        low = np.linalg.cholesky(m[::-1, ::-1])
    except np.linalg.LinAlgError:
        return None
    return np.ascontiguousarray(low[::-1, ::-1])


class Spread:
    """cov_t (or its diagonal) at every time: the time-independent part, then a loop.

    Parameters
    ----------
    want : {"cov", "std"}
    part : {"total", "prior", "data"}
        Which part of the covariance (:ref:`theory-4`).
    replicas : bool
        Each network trains on its own replica: the "data" part A_t A_tᵀ is present.
    w : ndarray of shape (n_grid, n_data)
        W = (L⁻¹F)ᵀU.
    m : ndarray of shape (n_data, n_data)
        M = Wᵀ K W.
    root : ndarray of shape (n_data, n_data) or None
        R from :func:`prior_root`; ``None`` selects the direct form.
    nngp_star : ndarray of shape (n_test, n_grid)
        K(x*, X_grid).
    kss : ndarray of shape (n_test, n_test) or (n_test,)
        K(x*, x*) (its diagonal suffices for ``want="std"``).
    """

    def __init__(self, want, part, replicas, w, m, root, nngp_star, kss):
        self.want, self.prior = want, part != "data"
        self.data = replicas and part != "prior"
        self.root = root if self.prior else None
        n_test = nngp_star.shape[0]
        if not self.prior:
            self.base = np.zeros((n_test, n_test) if want == "cov" else n_test)
            return
        q_t = nngp_star @ w  # Qᵀ = K_*g W, (n_test, n_data)
        if root is None:
            self.qt2, self.m = 2.0 * q_t, m
            self.base = kss if want == "cov" or kss.ndim == 1 else np.diag(kss)
            return
        # V = R⁻¹Q, (n_data, n_test); Vᵀ kept row-major for the per-time update
        v = sla.solve_triangular(root, q_t.T, lower=False, check_finite=False)
        self.vt = np.ascontiguousarray(v.T)
        if want == "cov":
            base = np.array(kss, dtype=float, order="C")  # K** − VᵀV
            _syrk(-1.0, self.vt, base)
            self.base = _mirror_lower(base)
        else:
            kd = kss if kss.ndim == 1 else np.diag(kss)
            self.base = kd - np.einsum("ij,ij->i", self.vt, self.vt)

    def fill(self, p, g, s, out):
        """out[i] ← cov or std at the filters g[i] (:ref:`theory-4`).

        Parameters
        ----------
        p : ndarray of shape (n_test, n_data)
            P = Θ_*g W.
        g : ndarray of shape (n_times, n_data)
            g_t(s) at every time.
        s : ndarray of shape (n_data,)
            The eigenvalues, descending.
        out : ndarray of shape (n_times, n_test, n_test) or (n_times, n_test)
        """
        a = np.empty_like(p)
        learned = _Learned(p, s, self.root) if self.root is not None else None
        counts = learned.counts(g) if learned else np.zeros(len(g), dtype=int)
        done = None  # a time with every mode learned: all such times are equal
        for i in np.argsort(counts, kind="stable"):
            if learned and counts[i] == len(s) and done is not None:
                out[i] = out[done]
                continue
            np.multiply(p, g[i], out=a)  # A_t = P G_t
            z = learned.z(a, counts[i], self.vt, self.data) if learned else None
            (self._cov if self.want == "cov" else self._std)(a, z, out[i])
            done = i if learned and counts[i] == len(s) else done

    def _cov(self, a, z, out):
        """cov_t into ``out`` from A_t and Z_t = A_t R − Vᵀ (None: direct form)."""
        if self.prior and z is None:
            zd = a @ self.m  # direct form: K** + sym((A M − 2Q) Aᵀ)
            zd -= self.qt2
            np.matmul(zd, a.T, out=out)
            _symmetrize(out)
            out += self.base
        else:
            out[...] = self.base
        if self.data:  # B C Bᵀ = A Aᵀ
            _syrk(1.0, a, out)
        if z is not None:
            _syrk(1.0, z, out)  # (AR − Vᵀ)(AR − Vᵀ)ᵀ
        if self.data or z is not None:
            _mirror_lower(out)

    def _std(self, a, z, out):
        """sqrt(diag cov_t) into ``out`` from A_t and Z_t (None: direct form)."""
        var = self.base.copy()
        if self.data:
            var += np.einsum("ij,ij->i", a, a)
        if self.prior and z is None:
            var += np.einsum("ij,ij->i", a @ self.m - self.qt2, a)
        elif z is not None:
            var += np.einsum("ij,ij->i", z, z)
        np.sqrt(np.maximum(var, 0.0), out=out)


class _Learned:
    """Z_t = A_t R − Vᵀ, with the learned modes' part Y_m accumulated once.

    Times must be asked for in increasing number of learned modes m.
    """

    def __init__(self, p, s, root):
        with np.errstate(divide="ignore"):
            self.inv_s = np.where(s > 0, 1.0 / np.where(s > 0, s, 1.0), np.inf)
        self.p, self.root = p, root
        self.y, self.done = np.zeros_like(p), 0  # Y over modes [0, done)
        self.z_buf = np.empty_like(p)

    def counts(self, g):
        """m_t: the leading modes with g_t(s) = 1/s exactly, shape (n_times,)."""
        same = g == self.inv_s
        return np.where(same.all(axis=1), g.shape[1], same.argmin(axis=1))

    def _part(self, lo, hi):
        """(P S⁻¹)[:, lo:hi] R[lo:hi, lo:] (R is upper: columns >= lo only)."""
        return (self.p[:, lo:hi] * self.inv_s[lo:hi]) @ self.root[lo:hi, lo:]

    def z(self, a, m, vt, keep):
        """Z_t from A_t with m learned modes (``a`` is overwritten unless ``keep``)."""
        while self.done + _BLOCK <= m:  # whole blocks, always in the same order
            lo = self.done
            self.y[:, lo:] += self._part(lo, lo + _BLOCK)
            self.done += _BLOCK
        z = np.subtract(self.y, vt, out=self.z_buf)  # reused: one time at a time
        lo = self.done
        if m > lo:
            z[:, lo:] += self._part(lo, m)
        if m < a.shape[1]:  # the still-learning modes: A[:, m:] R[m:, m:] (trmm)
            act = a[:, m:] if m or not keep else a.copy()
            z[:, m:] += _times_upper(act, self.root[m:, m:])
        return z


def _times_upper(a, root):
    """Return A R for an upper-triangular R (BLAS trmm, in place if A is row-major).

    (A R)ᵀ = Rᵀ Aᵀ, with Aᵀ and Rᵀ column-major views.
    """
    a = np.ascontiguousarray(a)
    return dtrmm(1.0, root.T, a.T, side=0, lower=1, overwrite_b=1).T


def _syrk(alpha, z, out):
    """Add α Z Zᵀ to ``out`` on the lower triangle of a row-major ``out`` (BLAS syrk).

    The upper triangle of ``out`` is left as it was (see :func:`_mirror_lower`).
    """
    z = np.ascontiguousarray(z)
    dsyrk(alpha, z.T, beta=1.0, c=out.T, trans=1, lower=0, overwrite_c=1)


def _mirror_lower(a, block=256):
    """Copy the lower triangle of a square row-major ``a`` onto its upper one."""
    n = a.shape[0]
    for i in range(0, n, block):
        for j in range(i, n, block):
            lower = a[j : j + block, i : i + block]
            if i == j:
                upper = np.triu_indices(lower.shape[0], 1)
                lower[upper] = lower.T[upper]
            else:
                a[i : i + block, j : j + block] = lower.T
    return a


def _symmetrize(a, block=256):
    """Set a ← (a + aᵀ)/2 in place, block by block (no full temporary)."""
    n = a.shape[0]
    for i in range(0, n, block):
        top = a[i : i + block, i : i + block]
        top += top.T.copy()
        top *= 0.5
        for j in range(i + block, n, block):
            upper, lower = (
                a[i : i + block, j : j + block],
                a[j : j + block, i : i + block],
            )
            upper += lower.T
            upper *= 0.5
            lower[...] = upper.T
