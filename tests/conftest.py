"""Shared fixtures: one demo Studio (tiny random-weight models built in code) for the whole session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from engine.settings import Settings  # noqa: E402
from engine.studio import Studio  # noqa: E402


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("studio-cache")


@pytest.fixture(scope="session")
def studio(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Studio:
    settings = Settings(cache_dir=cache_dir, outputs_dir=tmp_path_factory.mktemp("outputs"), memory_budget_gb=8.0)
    return Studio(settings, demo=True, online=False)


def collect(events) -> dict[str, list]:
    """Group a finished event stream by event type name."""
    grouped: dict[str, list] = {}
    for event in events:
        grouped.setdefault(type(event).__name__, []).append(event)
    return grouped
