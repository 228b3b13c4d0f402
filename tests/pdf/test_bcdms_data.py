"""BCDMS F2p - F2d: pairing, cuts and covariance against the raw commondata.

References are computed here from nnpdf-data's raw YAML tables, read with PyYAML
(not nnpdf-data's own parser): pairs by hand on (x, Q², beam energy), cuts,
Y = F2p - F2d, and covariance entries from the named systematic columns.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("nnpdf_data")
# nngpbayes.pdf checks for hoppet without importing it (its Fortran runtime is
# configured on first use), so it stands in for importorskip("hoppet").
pytest.importorskip("nngpbayes.pdf", exc_type=ImportError)
yaml = pytest.importorskip("yaml")

import nnpdf_data  # noqa: E402

from nngpbayes.pdf import load_bcdms  # noqa: E402
from nngpbayes.pdf._covariance import difference_covariance  # noqa: E402

ROOT = Path(nnpdf_data.__file__).parent / "commondata"
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def shared_cache(tmp_path_factory):
    """One cache directory per test session, shared by the test_bcdms_* modules."""
    path = tmp_path_factory.getbasetemp() / "nngpbayes-cache"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return load_bcdms(cache_dir=shared_cache(tmp_path_factory))


def _read(target, name):
    path = ROOT / f"BCDMS_NC_NOTFIXED_{target}" / name
    return yaml.load(path.read_text(), Loader=LOADER)


@pytest.fixture(scope="module")
def raw():
    """Per target: kinematics, central values, stat and named systematics."""
    out = {}
    for t in "PD":
        kin = _read(t, "kinematics_EM-F2.yaml")["bins"]
        unc = _read(t, "uncertainties_legacy_dw_EM-F2.yaml")
        defs = unc["definitions"]
        sys_keys = [k for k in defs if k != "stat"]
        out[t] = {
            "x": np.array([b["x"]["mid"] for b in kin]),
            "q2": np.array([b["Q2"]["mid"] for b in kin]),
            "y": np.array([b["y"]["mid"] for b in kin]),
            "cv": np.array(_read(t, "data_legacy_EM-F2.yaml")["data_central"]),
            "stat": np.array([b["stat"] for b in unc["bins"]]),
            "names": [defs[k]["type"] for k in sys_keys],
            "sys": np.array([[b[k] for k in sys_keys] for b in unc["bins"]]),
        }
    return out


def _raw_pairs(raw):
    """Pairs by hand: beam energy E = Q²/(2 M x y) rounded to 100/120/200/280."""
    beams = np.array([100.0, 120.0, 200.0, 280.0])

    def energy(r):
        e = r["q2"] / (2 * 0.938272 * r["x"] * r["y"])
        return beams[np.argmin(np.abs(e[:, None] - beams), axis=1)]

    ep, ed = energy(raw["P"]), energy(raw["D"])
    lookup = {(raw["D"]["x"][j], raw["D"]["q2"][j], ed[j]): j for j in range(len(ed))}
    pairs = []
    for i in range(len(ep)):
        j = lookup.get((raw["P"]["x"][i], raw["P"]["q2"][i], ep[i]))
        if j is not None:
            pairs.append((i, j))
    return pairs


def test_pairing_and_cuts(data, raw):
    pairs = _raw_pairs(raw)
    assert len(pairs) == 254
    x, q2 = raw["P"]["x"], raw["P"]["q2"]
    kept = [
        (i, j) for i, j in pairs if q2[i] * (1 - x[i]) / x[i] > 12.5 and q2[i] > 3.49
    ]
    assert len(kept) == 248 == data.n_data
    kin = data.kinematics
    np.testing.assert_array_equal(kin["index_p"], [i for i, _ in kept])
    np.testing.assert_array_equal(kin["index_d"], [j for _, j in kept])
    assert np.all(np.diff(kin["index_p"].to_numpy()) > 0)  # proton-file order
    np.testing.assert_array_equal(data.x, x[kin["index_p"]])
    np.testing.assert_array_equal(data.q2, raw["D"]["q2"][kin["index_d"]])
    # the six points cut out are exactly those failing W² > 12.5 GeV²
    assert {(x[i], q2[i]) for i, _ in pairs} - {(x[i], q2[i]) for i, _ in kept} == {
        (0.55, 15.0), (0.65, 17.0), (0.65, 19.0), (0.65, 21.5), (0.75, 32.5),
        (0.75, 37.5),
    }  # fmt: skip


def test_central_values_are_proton_minus_deuteron(data, raw):
    ip, id_ = data.kinematics["index_p"], data.kinematics["index_d"]
    np.testing.assert_array_equal(data.y, raw["P"]["cv"][ip] - raw["D"]["cv"][id_])


def _expected_entry(raw, pi, di, pj, dj):
    """C_ij by hand: same-named columns of P and D correlated, CORR per target."""
    p, d = raw["P"], raw["D"]
    total = 0.0
    if (pi, di) == (pj, dj):
        total += p["stat"][pi] ** 2 + d["stat"][di] ** 2
    shared = set(p["names"]) & set(d["names"]) - {"CORR"}
    for name in shared:
        kp, kd = p["names"].index(name), d["names"].index(name)
        total += (p["sys"][pi, kp] - d["sys"][di, kd]) * (
            p["sys"][pj, kp] - d["sys"][dj, kd]
        )
    for r, (a, b) in ((p, (pi, pj)), (d, (di, dj))):
        for k, name in enumerate(r["names"]):
            if name not in shared:  # CORR columns; DEUTERON* only in D
                total += r["sys"][a, k] * r["sys"][b, k]
    return total


@pytest.mark.parametrize("i, j", [(0, 0), (0, 1), (5, 120), (100, 247), (247, 247)])
def test_covariance_entries_by_hand(data, raw, i, j):
    ip, id_ = data.kinematics["index_p"], data.kinematics["index_d"]
    expected = _expected_entry(raw, ip[i], id_[i], ip[j], id_[j])
    np.testing.assert_allclose(data.cov[i, j], expected, rtol=1e-12)
    np.testing.assert_allclose(data.cov[j, i], expected, rtol=1e-12)


def test_shared_systematics_cancel_in_the_difference(data, raw):
    """BCDMSNORM1 (3 %) shifts P and D together: it contributes (s_p - s_d)², far
    less than the s_p² + s_d² a decorrelated (``legacy`` proton) set would give."""
    p, d = raw["P"], raw["D"]
    kp, kd = p["names"].index("BCDMSNORM1"), d["names"].index("BCDMSNORM1")
    ip, id_ = data.kinematics["index_p"][0], data.kinematics["index_d"][0]
    sp, sd = p["sys"][ip, kp], d["sys"][id_, kd]
    np.testing.assert_allclose(sp / p["cv"][ip], 0.03, rtol=1e-6)  # MULT, absolute
    assert (sp - sd) ** 2 < 0.01 * (sp**2 + sd**2)


def test_covariance_is_spd(data):
    cov = data.cov
    np.testing.assert_array_equal(cov, cov.T)
    eig = np.linalg.eigvalsh(cov)
    assert eig[0] > 0
    assert eig[-1] / eig[0] < 1e6  # about 1.3e4 (see benchmarks/bench_pdf.py)


def test_difference_covariance_closed_form():
    """Two points, one shared, one private systematic per set: by hand."""
    sys_a = pd.DataFrame({"N": [1.0, 2.0], "CORR": [0.5, 0.0]})
    sys_b = pd.DataFrame({"N": [0.5, 1.0], "CORR": [0.0, 3.0], "UNCORR": [1.0, 1.0]})
    cov = difference_covariance([0.1, 0.2], sys_a, [0.3, 0.4], sys_b)
    n = np.array([0.5, 1.0])  # shared: s_a - s_b
    expected = np.outer(n, n) + np.outer([0.5, 0], [0.5, 0]) + np.outer([0, 3], [0, 3])
    expected += np.diag([0.1**2 + 0.3**2 + 1.0, 0.2**2 + 0.4**2 + 1.0])
    np.testing.assert_allclose(cov, expected, rtol=1e-14)


def test_cache_round_trip_is_exact(data, tmp_path_factory):
    again = load_bcdms(cache_dir=shared_cache(tmp_path_factory))
    np.testing.assert_array_equal(again.cov, data.cov)
    pd.testing.assert_frame_equal(again.kinematics, data.kinematics)


@pytest.mark.parametrize("kwargs", [{"w2_min": "a"}, {"q2_min": np.nan}])
def test_bad_cuts_name_the_argument(kwargs):
    name = next(iter(kwargs))
    with pytest.raises((TypeError, ValueError), match=name):
        load_bcdms(**kwargs)
