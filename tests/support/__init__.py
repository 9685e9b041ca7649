"""Shared test helpers: builders of the real domain types, seeded stores, source fixtures.

The test folders are packages (each holds an ``__init__.py``), so pytest puts the repository
root on ``sys.path`` and every test imports helpers as ``tests.support.<module>``.
"""

from __future__ import annotations

from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = TESTS_DIR.parent
TEST_DATA = TESTS_DIR / "data"  # small input files (tests/data)
GOLDEN_DIR = TESTS_DIR / "golden"  # expected prompt texts (tests/golden)
