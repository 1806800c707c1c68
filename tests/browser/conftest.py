"""A fresh headless Chromium for each browser test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .browser import chromium


@pytest.fixture
def browser() -> Iterator[object]:
    driver = chromium()
    try:
        yield driver
    finally:
        driver.quit()
