"""Shared fixtures."""

from __future__ import annotations

import pytest

from nimdoctor.catalog import Catalog, load_catalog


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The built-in catalog, loaded once."""
    return load_catalog()
