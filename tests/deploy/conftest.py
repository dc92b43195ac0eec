from __future__ import annotations

import functools
from collections.abc import Iterator

import kubernetes_validate.utils as kubernetes_validate
import pytest

from tests.deploy.chart import Render, cases, render


@pytest.fixture(scope="session")
def renders() -> dict[str, Render]:
    """Every case of tests/deploy/chart.py rendered once for the whole session."""
    return {name: render(values, case=name) for name, values in cases().items()}


@pytest.fixture(scope="session")
def default(renders: dict[str, Render]) -> Render:
    return renders["default"]


@pytest.fixture(scope="session")
def cached_schemas() -> Iterator[None]:
    """kubernetes-validate reads its (large) schema files on every call: read each once."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            kubernetes_validate,
            "schema_contents",
            functools.cache(kubernetes_validate.schema_contents),
        )
        yield
