"""The exception hierarchy."""

from __future__ import annotations

import pickle

import pytest

from luminora_nb import errors
from luminora_nb.errors import shown


def test_hierarchy_is_shallow_and_rooted() -> None:
    for cls in (errors.PersonalityError, errors.SessionError, errors.ProviderError, errors.StorageError):
        assert cls.__bases__ == (errors.LuminoraError,)
    for cls in (
        errors.ProviderAuthenticationError,
        errors.ProviderRateLimitError,
        errors.ProviderTimeoutError,
        errors.ProviderBadRequestError,
    ):
        assert cls.__bases__ == (errors.ProviderError,)


def test_provider_error_attributes_survive_pickling() -> None:
    exc = errors.ProviderRateLimitError("slow down", provider="openai", status=429, retryable=True)
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is errors.ProviderRateLimitError
    assert (str(back), back.provider, back.status, back.retryable) == ("slow down", "openai", 429, True)


def test_seed_path_exports_the_same_classes() -> None:
    from luminoracore.utils import exceptions

    assert exceptions.PersonalityError is errors.PersonalityError
    assert exceptions.SessionError is errors.SessionError
    assert exceptions.ProviderError is errors.ProviderError
    assert exceptions.StorageError is errors.StorageError


def test_every_error_has_a_docstring() -> None:
    for name in errors.__all__:
        doc = getattr(errors, name).__doc__
        assert doc and doc.strip().endswith("."), name


@pytest.mark.parametrize("cls", [errors.PersonalityError, errors.SessionError, errors.StorageError])
def test_plain_errors_take_a_message(cls: type[errors.LuminoraError]) -> None:
    assert str(cls("what went wrong; what to do")) == "what went wrong; what to do"


def test_shown_quotes_what_was_given_briefly() -> None:
    # Found by the fuzzer: blend_personalities("x" * 100_000, ...) put all of it in the message.
    assert len(shown("x" * 100_000)) < 80
    cyclic: dict[str, object] = {}
    cyclic["self"] = cyclic
    assert shown(cyclic) == "{'self': {'self': {'self': {...}}}}"
    assert shown([1, 2]) == "[1, 2]"
