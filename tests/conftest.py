"""Shared pytest configuration: the ``slow`` marker (``--run-slow``) and the sample run fixtures
(``trained``, ``loaded``: a tiny model trained once per session on ``data/``)."""

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


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """``(run directory, CliRunner result)`` of one tiny ``ner-crf train`` on ``data/`` (1 epoch),
    trained once per session (:func:`tests.sample_run.train_sample`)."""
    from tests.sample_run import train_sample

    run_dir = tmp_path_factory.mktemp("cli") / "run"
    result = train_sample(run_dir)
    assert result.exit_code == 0, result.stderr
    return run_dir, result


@pytest.fixture(scope="session")
def loaded(trained):
    """The ``trained`` run loaded with :func:`ner_crf.model.run_dir.load_run`."""
    from ner_crf.model.run_dir import load_run

    return load_run(trained[0])
