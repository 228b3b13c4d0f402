"""Architecture: per-layer values, λ = C defaults, validation, equality and repr."""

from types import SimpleNamespace

import numpy as np
import pytest

from nngpbayes import Architecture
from nngpbayes._validation import InvalidParameterError
from nngpbayes.activations import Activation, LeakyReLU, get_activation
from nngpbayes.architecture import architecture_from, per_layer

PER_LAYER = ("weight_variance", "bias_variance", "weight_lr", "bias_lr")


def test_defaults():
    a = Architecture()
    assert a.depth == 1 and a.n_layers == 2
    assert isinstance(a.activation, Activation)
    assert a.activation == get_activation("relu")
    np.testing.assert_array_equal(a.weight_variance, [1.0, 1.0])
    np.testing.assert_array_equal(a.bias_variance, [0.0, 0.0])
    # λ = C when no learning rate is given (docs/theory §1)
    np.testing.assert_array_equal(a.weight_lr, a.weight_variance)
    np.testing.assert_array_equal(a.bias_lr, a.bias_variance)


@pytest.mark.parametrize("depth", [0, 1, 4])
def test_scalars_broadcast_to_every_layer(depth):
    a = Architecture(depth, "erf", 1.7, 0.3, weight_lr=0.5, bias_lr=0.0)
    assert a.n_layers == depth + 1
    expected = dict(weight_variance=1.7, bias_variance=0.3, weight_lr=0.5, bias_lr=0)
    for name, value in expected.items():
        arr = getattr(a, name)
        assert arr.shape == (depth + 1,) and arr.dtype == np.float64
        np.testing.assert_array_equal(arr, value)


def test_sequences_of_length_depth_plus_one_are_kept_per_layer():
    cw, cb = [1.0, 2.0, 3.0], (0.0, 0.1, 0.2)
    lw, lb = np.array([0.5, 0.0, 4.0]), [1, 2, 3]
    a = Architecture(2, "tanh", cw, cb, weight_lr=lw, bias_lr=lb)
    for name, value in zip(PER_LAYER, (cw, cb, lw, lb), strict=True):
        np.testing.assert_array_equal(getattr(a, name), value)
    # the stored arrays are read-only copies: the caller's array cannot change them
    lw[0] = 99.0
    assert a.weight_lr[0] == 0.5
    with pytest.raises(ValueError, match="read-only"):
        a.weight_variance[0] = 5.0


def test_learning_rates_follow_variances_only_when_not_given():
    a = Architecture(1, "relu", [2.0, 3.0], [0.1, 0.2], weight_lr=[1.0, 1.0])
    np.testing.assert_array_equal(a.weight_lr, [1.0, 1.0])
    np.testing.assert_array_equal(a.bias_lr, [0.1, 0.2])  # λ_b = C_b
    b = a.replace(bias_variance=0.5, weight_variance=4.0)
    np.testing.assert_array_equal(b.bias_lr, [0.5, 0.5])  # still follows C_b
    np.testing.assert_array_equal(b.weight_lr, [1.0, 1.0])  # still the given λ_W
    c = a.replace(bias_lr=0.0)
    np.testing.assert_array_equal(c.bias_lr, [0.0, 0.0])
    np.testing.assert_array_equal(a.bias_lr, [0.1, 0.2])  # a itself unchanged


def test_replace_validates_again():
    a = Architecture(2, "erf")
    with pytest.raises(InvalidParameterError, match="has 3 values but the network"):
        a.replace(depth=3, weight_variance=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"depth.*Got depth=-2"):
        a.replace(depth=-2)


def test_activation_names_and_objects():
    assert Architecture(activation="erf").activation == get_activation("erf")
    leaky = LeakyReLU(0.2)
    assert Architecture(activation=leaky).activation == leaky


@pytest.mark.parametrize("name", ["relu6", "", "arctan"])
def test_unknown_activation_names_are_refused(name):
    with pytest.raises(ValueError, match=f"activation must be one of.*got '{name}'"):
        Architecture(activation=name)


@pytest.mark.parametrize("value", [3, None, 1.5])
def test_activation_of_the_wrong_type_is_refused(value):
    with pytest.raises(TypeError, match="activation must be a string or"):
        Architecture(activation=value)


@pytest.mark.parametrize(
    "depth, match",
    [
        (-1, r"depth.*>= 0.*Got depth=-1\."),
        (1.5, r"depth.*int.*Got depth=1\.5\."),
        (2.0, r"depth.*int.*Got depth=2\.0\."),  # no silent rounding of floats
        ("2", r"depth.*int.*Got depth='2'\."),
        (True, "depth must be a number, got True"),
    ],
)
def test_bad_depth_names_the_argument_and_value(depth, match):
    with pytest.raises(InvalidParameterError, match=match) as info:
        Architecture(depth=depth)
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)


def test_numpy_integer_depth_is_accepted():
    a = Architecture(depth=np.int64(3))
    assert a.depth == 3 and type(a.depth) is int


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(weight_variance=0.0), r"weight_variance must be .*strictly.*got 0\.0"),
        (dict(weight_variance=-1.0), r"weight_variance must be .*got -1\.0"),
        (dict(weight_variance=np.inf), "weight_variance must be finite"),
        (dict(weight_variance="big"), "weight_variance must be .*got 'big'"),
        (dict(weight_variance=True), "weight_variance must be .*got True"),
        (dict(weight_variance=[1.0, 0.0]), r"strictly positive, got \[1\.0, 0\.0\]"),
        (dict(bias_variance=-0.1), "bias_variance must be finite and non-negative"),
        (dict(bias_variance=[[0.1, 0.2]]), "bias_variance must be"),
        (dict(weight_lr=np.nan), "weight_lr must be finite"),
        (dict(bias_lr=[0.1, -1.0]), "bias_lr must be finite and non-negative"),
        (dict(depth=2, weight_variance=[1.0, 2.0]), "has 2 values but the network"),
        (dict(depth=0, bias_lr=[0.1, 0.2]), "bias_lr has 2 values .* 1 layers"),
    ],
)
def test_bad_per_layer_values_name_the_argument(kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        Architecture(**kwargs)


def test_zero_is_allowed_for_biases_and_learning_rates():
    a = Architecture(1, bias_variance=0.0, weight_lr=[0.0, 1.0], bias_lr=0.0)
    np.testing.assert_array_equal(a.weight_lr, [0.0, 1.0])


def test_per_layer_function():
    out = per_layer(2, 3, "x", allow_zero=False)
    np.testing.assert_array_equal(out, [2.0, 2.0, 2.0])
    assert out.dtype == np.float64 and not out.flags.writeable
    with pytest.raises(ValueError, match="x must be finite and strictly positive"):
        per_layer([1.0, 0.0, 1.0], 3, "x", allow_zero=False)


def test_equality():
    a = Architecture(2, "erf", [1.0, 2.0, 3.0], 0.1)
    assert a == Architecture(2, "erf", [1.0, 2.0, 3.0], 0.1)
    # λ = C given explicitly equals λ = C by default
    assert a == Architecture(2, "erf", [1.0, 2.0, 3.0], 0.1, [1.0, 2.0, 3.0], 0.1)
    assert a != Architecture(2, "erf", [1.0, 2.0, 3.0], 0.2)
    assert a != Architecture(2, "tanh", [1.0, 2.0, 3.0], 0.1)
    assert a != Architecture(1, "erf", [1.0, 2.0], 0.1)
    assert a != Architecture(2, "erf", [1.0, 2.0, 3.0], 0.1, bias_lr=0.0)
    assert a != "erf"
    with pytest.raises(TypeError):  # mutable-looking arrays: not hashable
        hash(a)


def test_repr():
    a = Architecture(2, "erf", [1.0, 2.0, 3.0], 0.1)
    text = repr(a)
    assert text.startswith("Architecture(depth=2, activation=Erf()")
    assert "weight_variance=[1.0, 2.0, 3.0]" in text
    assert "bias_variance=0.1," in text and "bias_lr=0.1)" in text
    assert repr(Architecture()) == (
        "Architecture(depth=1, activation=ReLU(), weight_variance=1.0, "
        "bias_variance=0.0, weight_lr=1.0, bias_lr=0.0)"
    )


def test_architecture_from_reads_estimator_parameters():
    params = SimpleNamespace(
        depth=2, activation="tanh", weight_variance=1.5, bias_variance=0.2
    )
    a = architecture_from(params)  # no weight_lr / bias_lr attributes: λ = C
    assert a == Architecture(2, "tanh", 1.5, 0.2)
    params.weight_lr, params.bias_lr = 0.5, None
    np.testing.assert_array_equal(architecture_from(params).weight_lr, [0.5] * 3)
    params.depth = -1
    with pytest.raises(ValueError, match=r"depth.*Got depth=-1"):
        architecture_from(params)
