from __future__ import annotations

import pytest

from tests.deploy.chart import Render, cases, render


@pytest.fixture(scope="session")
def renders() -> dict[str, Render]:
    """Every case of tests/deploy/chart.py rendered once for the whole session."""
    return {name: render(values, case=name) for name, values in cases().items()}


@pytest.fixture(scope="session")
def default(renders: dict[str, Render]) -> Render:
    return renders["default"]
