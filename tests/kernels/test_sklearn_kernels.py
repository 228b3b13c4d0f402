"""NNGPKernel and NTKKernel as scikit-learn kernels: the kernel contract, gradients
against finite differences, and GaussianProcessRegressor optimisation."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

from nngpbayes import Architecture, NNGPKernel, NTKKernel
from nngpbayes.activations import LeakyReLU
from nngpbayes.kernels import nngp_ntk

KERNELS = [
    NNGPKernel(depth=2, activation="relu", weight_variance=1.7, bias_variance=0.2),
    NNGPKernel(
        depth=1, activation="erf", weight_variance=[1.2, 2.0], bias_variance=0.3
    ),
    NNGPKernel(depth=3, activation="tanh", weight_variance=1.4, bias_variance=0.1),
    NNGPKernel(depth=2, activation="gelu", weight_variance=1.1, bias_variance=0.5),
    NNGPKernel(depth=1, activation="sin", weight_variance=0.8, bias_variance=0.2),
    NNGPKernel(depth=2, activation="cos", weight_variance=0.9, bias_variance=0.4),
    NNGPKernel(depth=2, activation=LeakyReLU(0.1), weight_variance=1.3),
    NNGPKernel(depth=2, activation="abs", weight_variance=1.3, bias_variance=0.1),
    NNGPKernel(depth=1, activation="softplus", weight_variance=1.3, bias_variance=0.1),
    NNGPKernel(depth=1, activation="swish", weight_variance=1.3, bias_variance=0.1),
    NNGPKernel(depth=1, activation="sigmoid", weight_variance=1.3, bias_variance=0.1),
    NNGPKernel(depth=0, activation="identity", weight_variance=1.3, bias_variance=0.1),
    NTKKernel(depth=2, activation="relu", weight_variance=1.7, bias_variance=0.2),
    NTKKernel(
        depth=2,
        activation="erf",
        weight_variance=[1.2, 2.0, 0.7],
        bias_variance=[0.3, 0.1, 0.2],
    ),
    NTKKernel(
        depth=2,
        activation="tanh",
        weight_variance=1.4,
        bias_variance=0.1,
        weight_lr=0.5,
        bias_lr=0.2,
        weight_lr_bounds=(1e-3, 1e3),
        bias_lr_bounds=(1e-3, 1e3),
    ),
    NTKKernel(depth=1, activation="gelu", weight_variance=1.1, bias_variance=0.5),
    NTKKernel(depth=3, activation="sin", weight_variance=0.8, bias_variance=0.2),
    NTKKernel(
        depth=1,
        activation="abs",
        weight_variance=0.8,
        bias_variance=0.2,
        weight_lr=[1.0, 0.3],
        weight_lr_bounds=(1e-2, 1e2),
    ),
]


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 3))
    X[1] = X[0]  # a duplicate: the gradient must be finite there too
    return X


@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
def test_kernel_gradient_matches_finite_differences(kernel, X):
    K, grad = kernel(X, eval_gradient=True)
    assert grad.shape == K.shape + (kernel.n_dims,)
    np.testing.assert_allclose(K, kernel(X), rtol=1e-14, atol=1e-15)
    h = 1e-5
    for i in range(kernel.n_dims):
        up, down = kernel.theta.copy(), kernel.theta.copy()
        up[i] += h
        down[i] -= h
        fd = (kernel.clone_with_theta(up)(X) - kernel.clone_with_theta(down)(X)) / (
            2 * h
        )
        scale = np.abs(grad[..., i]).max()
        np.testing.assert_allclose(grad[..., i], fd, rtol=1e-6, atol=1e-7 * scale)


@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
def test_kernel_contract(kernel, X):
    Y = X[:4] + 0.3
    np.testing.assert_allclose(kernel(X), kernel(X, X), rtol=1e-13)
    np.testing.assert_allclose(kernel.diag(X), np.diag(kernel(X)), rtol=1e-14)
    np.testing.assert_allclose(kernel(X, Y), kernel(Y, X).T, rtol=1e-12, atol=1e-15)
    assert not kernel.is_stationary()
    assert kernel.requires_vector_input
    cloned = clone(kernel)
    assert cloned == kernel
    assert cloned.get_params().keys() == kernel.get_params().keys()
    np.testing.assert_array_equal(cloned(X), kernel(X))
    new = clone(kernel).set_params(
        weight_variance=np.asarray(kernel.weight_variance) * 2
    )
    assert new != kernel
    other = kernel.clone_with_theta(kernel.theta)
    np.testing.assert_allclose(other(X), kernel(X), rtol=1e-13)
    with pytest.raises(
        ValueError, match="Gradient can only be evaluated when Y is None"
    ):
        kernel(X, Y, eval_gradient=True)


def test_hyperparameters_and_bounds():
    k = NNGPKernel(depth=2, weight_variance=1.5, bias_variance=0.0)
    names = [h.name for h in k.hyperparameters]
    assert names == ["bias_variance", "weight_variance"]
    assert k.hyperparameter_bias_variance.fixed  # C_b = 0: no bias, not tunable
    assert k.n_dims == 1
    np.testing.assert_allclose(k.theta, [np.log(1.5)])
    per_layer = NNGPKernel(depth=2, weight_variance=[1.0, 2.0, 3.0], bias_variance=0.1)
    assert per_layer.hyperparameter_weight_variance.n_elements == 3
    assert per_layer.n_dims == 4
    ntk = NTKKernel(depth=1, bias_variance=0.1)
    assert [h.name for h in ntk.hyperparameters if not h.fixed] == [
        "bias_variance",
        "weight_variance",
    ]
    with pytest.raises(ValueError, match="weight_lr=None"):
        NTKKernel(weight_lr_bounds=(1e-3, 1e3))(np.ones((2, 2)))
    assert "NTKKernel(depth=1" in repr(ntk)


def test_learning_rates_default_to_variances(X):
    k1 = NTKKernel(depth=2, activation="erf", weight_variance=1.3, bias_variance=0.2)
    k2 = NTKKernel(
        depth=2,
        activation="erf",
        weight_variance=1.3,
        bias_variance=0.2,
        weight_lr=1.3,
        bias_lr=0.2,
    )
    np.testing.assert_array_equal(k1(X), k2(X))
    a = Architecture(2, "erf", 1.3, 0.2)
    np.testing.assert_array_equal(k1(X), nngp_ntk(X, architecture=a).ntk)
    np.testing.assert_array_equal(
        NNGPKernel(depth=2, activation="erf", weight_variance=1.3, bias_variance=0.2)(
            X
        ),
        nngp_ntk(X, architecture=a).nngp,
    )


def test_sums_and_products_with_sklearn_kernels(X):
    nngp = NNGPKernel(depth=2, weight_variance=1.5, bias_variance=0.1)
    k = ConstantKernel(2.0) * nngp + WhiteKernel(0.1) + RBF(1.0)
    K, grad = k(X, eval_gradient=True)
    np.testing.assert_allclose(
        K, 2.0 * nngp(X) + 0.1 * np.eye(len(X)) + RBF(1.0)(X), rtol=1e-13
    )
    assert grad.shape == (len(X), len(X), k.n_dims)
    assert k.n_dims == 5


def _data(n=30, seed=0):
    rng = np.random.default_rng(seed)
    X = np.sort(rng.uniform(-2, 2, size=(n, 1)), axis=0)
    y = np.sin(2 * X[:, 0]) + 0.1 * rng.normal(size=n)
    return X, y


@pytest.mark.parametrize(
    "kernel",
    [
        NNGPKernel(depth=2, weight_variance=1.0, bias_variance=1.0),
        NTKKernel(depth=2, activation="erf", weight_variance=1.0, bias_variance=1.0),
    ],
    ids=["nngp-relu", "ntk-erf"],
)
def test_gpr_optimises_through_the_analytic_gradient(kernel):
    X, y = _data()
    start = kernel + WhiteKernel(0.05)
    gp = GaussianProcessRegressor(start, optimizer=None).fit(X, y)
    lml0 = gp.log_marginal_likelihood_value_
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = GaussianProcessRegressor(start, random_state=0).fit(X, y)
    assert fitted.log_marginal_likelihood_value_ > lml0 + 1.0
    mean, std = fitted.predict(X, return_std=True)
    _, cov = fitted.predict(X, return_cov=True)
    assert np.all(np.isfinite(mean)) and np.all(std >= 0)
    np.testing.assert_allclose(std**2, np.diag(cov), rtol=1e-6, atol=1e-12)

    # the same optimum with finite-difference gradients of the log marginal likelihood
    def fd_optimizer(obj_func, initial_theta, bounds):
        from scipy.optimize import minimize

        def f(theta):
            return obj_func(theta, eval_gradient=False)

        res = minimize(
            f,
            initial_theta,
            method="L-BFGS-B",
            bounds=bounds,
            options=dict(ftol=1e-14, gtol=1e-9),
        )
        return res.x, res.fun

    def exact_optimizer(obj_func, initial_theta, bounds):
        from scipy.optimize import minimize

        res = minimize(
            obj_func,
            initial_theta,
            method="L-BFGS-B",
            jac=True,
            bounds=bounds,
            options=dict(ftol=1e-14, gtol=1e-9),
        )
        return res.x, res.fun

    exact = GaussianProcessRegressor(start, optimizer=exact_optimizer).fit(X, y)
    fd = GaussianProcessRegressor(start, optimizer=fd_optimizer).fit(X, y)
    np.testing.assert_allclose(exact.kernel_.theta, fd.kernel_.theta, atol=2e-3)
    assert exact.log_marginal_likelihood_value_ == pytest.approx(
        fd.log_marginal_likelihood_value_, abs=1e-6
    )
