"""notebooks/evaluation.ipynb runs from the package on a short period (so it cannot rot)."""

from __future__ import annotations

import pytest

from tests.support import REPO_ROOT

NOTEBOOK = REPO_ROOT / "notebooks" / "evaluation.ipynb"


@pytest.mark.realdata
def test_evaluation_notebook_executes(beijing_dir, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")

    monkeypatch.setenv("AQCAST_NOTEBOOK_SHORT", "1")
    monkeypatch.setenv("AQCAST_DATA_DIR", str(beijing_dir.parent))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # Saved without outputs: what CI runs is what a reader runs.
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 7  # timeseries x2, skill by lead, reliability, day, importance x2, AQI
    tables = [o for o in outputs if "text/html" in o.get("data", {})]
    assert len(tables) >= 2
    text = "".join(o.get("text", "") for o in outputs)
    assert "perfect_prognosis" in text and "station files" in text
