"""init_statistics against Monte Carlo over MLPEnsemble members (slow).

Per network (conditioning on everything below the readout, whose weights are
independent Gaussians; team notes INIT_STATISTICS.md §2) with n_out outputs:

- Ĝ_ab = C_b + (C_W/n) Σ_j σ_ja σ_jb = E[z_a z_b | past]: n(E Ĝ − K) → K1,
  n Cov(Ĝ_ab, Ĝ_cd) → V;
- the output NTK Ĥ_ij;ab of all output pairs (backpropagated signals, λ_W/n, λ_b):
  n(E Ĥ_ii − Θ) → H1, n Cov(Ĥ_ii;ab, Ĥ_ii;cd) → A[a,b,c,d] + B[a,c,b,d] + B[a,d,b,c],
  n E[Ĥ_ij;ab Ĥ_ij;cd] (i ≠ j) → B[a,c,b,d], n Cov(Ĥ_ii;ab, z_ic z_id) →
  D[a,b,c,d] + F[a,c,b,d] + F[a,d,b,c], n E[Ĥ_ij;ab z_ic z_jd] (i ≠ j) → F[a,c,b,d];
- with Ω̂ = E[Ĥ_ii | past]: n Cov(Ĥ_ii;ab, Ĥ_jj;cd) (i ≠ j, independent readout
  rows) = n Cov(Ω̂, Ω̂) → A, and n Cov(mean_i Ĥ_ii;ab, Ĝ_cd) = n Cov(Ω̂, Ĝ) → D.

Each estimate is a mean over networks of a per-network value, so its standard
error is the sample standard deviation of those values over √M. The per-width
estimates carry O(1/n) relative bias (O(1/n²) in the moments), removed by the
extrapolation 2·est(128) − est(64) (standard error √(4 s₁₂₈² + s₆₄²)); every
entry must then agree with the prediction within 4 standard errors (for ~300
compared entries a false alarm has probability ~2%, and the seeds are fixed).
"""

import numpy as np
import pytest

from nngpbayes import Architecture, MLPEnsemble
from nngpbayes.finite_width import init_statistics

N_OUT = 6


def _network_stats(ens, X, arch):
    """Ĝ (M, N, N), outputs z (M, N, n_out) and output NTK Ĥ (M, n_out, n_out, N, N)."""
    weights, biases = ens.weights_, ens.biases_
    act = arch.activation
    h, pre, inputs = X, [], []
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
        inputs.append(h)
        z = np.matmul(h, w) + b[:, None, :]
        pre.append(z)
        if layer < arch.depth:
            h = act(z)
    n = weights[-1].shape[1]
    m, n_pts = weights[0].shape[0], X.shape[0]
    last = inputs[-1]  # (M, N, n)
    gram = np.einsum("mak,mbk->mab", last, last)
    ghat = arch.bias_variance[-1] + arch.weight_variance[-1] / n * gram
    sig = np.broadcast_to(np.eye(N_OUT), (m, n_pts, N_OUT, N_OUT))
    ntk = 0.0
    for layer in range(arch.n_layers - 1, -1, -1):
        x_in = inputs[layer]
        x_in = np.broadcast_to(x_in, (m,) + x_in.shape[-2:])
        hh = np.einsum("mak,mbk->mab", x_in, x_in)
        gg = np.einsum("maik,mbjk->mijab", sig, sig)
        n_in = x_in.shape[-1]
        lr = arch.bias_lr[layer] + arch.weight_lr[layer] / n_in * hh
        ntk = ntk + gg * lr[:, None, None]
        if layer > 0:
            w_t = np.swapaxes(weights[layer], -1, -2)  # (M, n_out_l, n_in_l)
            flat = sig.reshape(m, n_pts * N_OUT, -1) @ w_t
            sig = (
                flat.reshape(m, n_pts, N_OUT, -1)
                * act.derivative(pre[layer - 1])[:, :, None, :]
            )
    return ghat, pre[-1], ntk  # (M,N,N), (M,N,o), (M,o,o,N,N)


def _per_network(ghat, z, ntk, means, n):
    """Per-network values of every estimator (times n), dict of (M, ...) arrays."""
    k_mean, h_mean = means
    off = ~np.eye(N_OUT, dtype=bool)
    diag = np.einsum("miiab->miab", ntk)  # (M, o, N, N)
    dg = ghat - k_mean
    dh = diag - h_mean
    zz = np.einsum("mci,mdi->micd", z, z)
    zz_mean = zz.mean(axis=(0, 1))
    out = {
        "K1": n * ghat,
        "V": n * np.einsum("mab,mcd->mabcd", dg, dg),
        "H1": n * diag.mean(axis=1),
        "AB": n * np.einsum("miab,micd->mabcd", dh, dh) / N_OUT,
        "DF": n * np.einsum("miab,micd->mabcd", dh, zz - zz_mean) / N_OUT,
    }
    pairs = off.sum()
    # B[a,c,b,d] from E[Ĥ_ij;ab Ĥ_ij;cd], F[a,c,b,d] from E[Ĥ_ij;ab z_ic z_jd]
    b_acbd = np.einsum("mijab,mijcd,ij->mabcd", ntk, ntk, off) / pairs
    f_acbd = np.einsum("mijab,mci,mdj,ij->mabcd", ntk, z, z, off) / pairs
    out["B"] = n * b_acbd.transpose(0, 1, 3, 2, 4)
    out["F"] = n * f_acbd.transpose(0, 1, 3, 2, 4)
    # A/n = Cov(Ω̂, Ω̂) and D/n = Cov(Ω̂, Ĝ) with Ω̂ = E[Ĥ_ii | past]: different
    # outputs are independent given the past, so pairs i ≠ j estimate Cov(Ω̂, Ω̂)
    # without the readout noise, and Cov(mean_i Ĥ_ii, Ĝ) = Cov(Ω̂, Ĝ) exactly
    tot = dh.sum(axis=1)
    same = np.einsum("miab,micd->mabcd", dh, dh)
    out["A"] = (
        n * (np.einsum("mab,mcd->mabcd", tot, tot) - same) / (N_OUT * (N_OUT - 1))
    )
    out["D"] = n * np.einsum("mab,mcd->mabcd", dh.mean(axis=1), dg)
    return out


def _estimate(X, arch, width, n_networks, seed, chunk=1000):
    """Mean and standard error of every per-network estimator at one width."""
    raw = []
    for i, start in enumerate(range(0, n_networks, chunk)):
        ens = MLPEnsemble.from_architecture(
            arch,
            width=width,
            n_members=min(chunk, n_networks - start),
            random_state=seed + i,
        )
        ens.initialize(X.shape[1], n_outputs=N_OUT)
        raw.append(_network_stats(ens, X, arch))
    ghat, z, ntk = (np.concatenate(parts) for parts in zip(*raw, strict=True))
    means = (ghat.mean(0), np.einsum("miiab->miab", ntk).mean(axis=(0, 1)))
    vals = _per_network(ghat, z, ntk, means, width)
    m = ghat.shape[0]
    return {k: (v.mean(0), v.std(0, ddof=1) / np.sqrt(m)) for k, v in vals.items()}


def _predictions(st):
    (A, B), (D, F) = st.ntk_fluctuation, st.ntk_preactivation
    return {
        "K1": st.nngp_correction,
        "V": st.four_point,
        "H1": st.ntk_correction,
        "AB": A + B.transpose(0, 2, 1, 3) + B.transpose(0, 2, 3, 1),
        "DF": D + F.transpose(0, 2, 1, 3) + F.transpose(0, 2, 3, 1),
        "A": A,
        "B": B,
        "D": D,
        "F": F,
    }


def _check(X, arch, n_networks):
    """Every coefficient vs 2·est(128) − est(64); returns the largest |z|."""
    est = {w: _estimate(X, arch, w, n_networks, seed=100 * w) for w in (64, 128)}
    st = init_statistics(X, arch, width=64)
    pred = _predictions(st)
    # n E[Ĝ] = nK + K1 + O(1/n) and n E[Ĥ_ii] = nΘ + H1 + O(1/n): remove nK, nΘ
    lead = {"K1": st.nngp, "H1": st.ntk}
    worst = {}
    for key, want in pred.items():
        (m64, s64), (m128, s128) = est[64][key], est[128][key]
        if key in lead:
            m64, m128 = m64 - 64 * lead[key], m128 - 128 * lead[key]
        extrap, err = 2 * m128 - m64, np.sqrt(4 * s128**2 + s64**2)
        z = (extrap - want) / err
        worst[key] = float(np.max(np.abs(z)))
        assert worst[key] < 4, (key, worst[key], extrap, want, err)
    return worst


@pytest.mark.slow
def test_tanh_depth3_against_networks():
    X = np.array([[0.9, -0.4], [-0.3, 1.0], [0.6, 0.7]])
    arch = Architecture(
        depth=3,
        activation="tanh",
        weight_variance=[1.3, 1.6, 1.2, 1.4],
        bias_variance=0.15,
        weight_lr=[0.7, 2.0, 1.1, 0.5],
        bias_lr=0.4,
    )
    _check(X, arch, n_networks=16000)


@pytest.mark.slow
def test_gelu_depth2_against_networks():
    X = np.array([[0.9, -0.4], [-0.3, 1.0], [0.6, 0.7], [-0.8, -0.5]])
    arch = Architecture(
        depth=2,
        activation="gelu",
        weight_variance=[1.9, 2.0, 1.5],
        bias_variance=0.2,
        weight_lr=[1.0, 3.0, 0.8],
        bias_lr=0.1,
    )
    _check(X, arch, n_networks=16000)
