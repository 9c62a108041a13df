"""FieldError: structured, prefixable, picklable, a ValueError."""

from __future__ import annotations

import pickle

import pytest

from synprune.errors import ConfigError, FieldError, InputError


def test_message_attributes_and_hierarchy() -> None:
    err = FieldError("p", 1.2, "a number in [0, 1)")
    assert str(err) == "p=1.2 is invalid; allowed: a number in [0, 1)"
    assert (err.field, err.value, err.allowed, err.prefix, err.path) == (
        "p", 1.2, "a number in [0, 1)", "", "p",
    )  # fmt: skip
    assert isinstance(err, ConfigError) and isinstance(err, InputError)
    assert isinstance(err, ValueError)
    assert str(FieldError("schedule", "linear", "one of ease_in, ease_out")) == (
        "schedule='linear' is invalid; allowed: one of ease_in, ease_out"
    )


def test_with_prefix_stacks_outermost_first() -> None:
    inner = FieldError("p", 1.2, "a number in [0, 1)").with_prefix("dropout.")
    outer = inner.with_prefix("configs/x.toml: regularizers.synaptic+")
    assert str(outer) == (
        "configs/x.toml: regularizers.synaptic+dropout.p=1.2 is invalid; "
        "allowed: a number in [0, 1)"
    )
    assert outer.field == "p" and outer.path == "configs/x.toml: regularizers.synaptic+dropout.p"
    with pytest.raises(FieldError, match=r"^f\.toml: p=1\.2"):
        try:
            raise FieldError("p", 1.2, "x")
        except FieldError as e:
            raise e.with_prefix("f.toml: ") from None


def test_pickle_round_trip() -> None:
    err = FieldError("hidden_size", 10**7, "fits in memory", prefix="models.lstm.")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is FieldError and str(back) == str(err)
    assert (back.field, back.value, back.allowed, back.prefix) == (
        err.field, err.value, err.allowed, err.prefix,
    )  # fmt: skip
