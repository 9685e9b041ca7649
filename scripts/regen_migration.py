"""Regenerate the initial Alembic migration from service/tables.py (pre-release only).

Usage: python scripts/regen_migration.py
"""

import tempfile

from alembic import command

from aqcast.service.store import MIGRATIONS_DIR, alembic_config

for f in (MIGRATIONS_DIR / "versions").glob("0001_*.py"):
    f.unlink()
with tempfile.TemporaryDirectory() as d:
    cfg = alembic_config(f"sqlite:///{d}/empty.db")
    command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001")
for f in (MIGRATIONS_DIR / "versions").glob("0001_*.py"):
    print("wrote", f)
