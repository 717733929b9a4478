"""Shared pytest configuration: the ``slow`` marker and small synthetic fixtures."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow", action="store_true", default=False, help="also run tests marked slow"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip_slow = pytest.mark.skip(
        reason="slow: run with --run-slow (make test-slow / make test-all)"
    )
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)
