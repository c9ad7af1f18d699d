"""Fixtures of the widget tests: facades with no session log (one that learns), and a comm recorder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from luminora_nb.sync import Luminora
from luminora_nb.widgets.testing import CommRecorder, record_comms


@pytest.fixture
def lum() -> Iterator[Luminora]:
    """A facade on the offline provider and in-memory storage, closed afterwards."""
    facade = Luminora(log=None)
    try:
        yield facade
    finally:
        facade.close()


@pytest.fixture
def learning() -> Iterator[Luminora]:
    """A facade whose turns learn (stated, not left to the default), closed afterwards."""
    facade = Luminora(log=None, learn=True)
    try:
        yield facade
    finally:
        facade.close()


@pytest.fixture
def wire() -> Iterator[CommRecorder]:
    """Records what widgets created in the test send; delivers browser messages to them."""
    with record_comms() as recorder:
        yield recorder
