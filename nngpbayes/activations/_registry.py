"""The activations available by name, and :func:`get_activation`."""

from __future__ import annotations

from ._base import Activation
from ._kinked import Abs, Identity, LeakyReLU, ReLU
from ._series import Sigmoid, Softplus, Swish, Tanh
from ._smooth import GELU, Cos, Erf, Sin

__all__ = ["ACTIVATIONS", "get_activation"]

#: Activations available by name.
ACTIVATIONS = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "abs": Abs,
    "identity": Identity,
    "linear": Identity,
    "erf": Erf,
    "gelu": GELU,
    "sin": Sin,
    "cos": Cos,
    "tanh": Tanh,
    "sigmoid": Sigmoid,
    "softplus": Softplus,
    "swish": Swish,
    "silu": Swish,
}


def get_activation(activation) -> Activation:
    """Return an :class:`Activation` from a name (see ``ACTIVATIONS``) or instance.

    Raises
    ------
    ValueError
        For an unknown name.
    TypeError
        For anything that is neither a string nor an :class:`Activation`.

    Examples
    --------
    >>> from nngpbayes.activations import LeakyReLU, get_activation
    >>> get_activation("relu")
    ReLU()
    >>> get_activation(LeakyReLU(0.1))
    LeakyReLU(0.1)
    """
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str):
        key = activation.strip().lower()
        if key not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)} or an Activation "
                f"object, got {activation!r}"
            )
        return ACTIVATIONS[key]()
    raise TypeError(
        f"activation must be a string or an nngpbayes.activations.Activation, "
        f"got {type(activation).__name__}"
    )
