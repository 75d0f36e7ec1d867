"""Every notebook runs top to bottom on reduced data (CURAKIT_NOTEBOOK_QUICK=1) and draws its plots:
01 the quickstart (digits), 02 a table (drift -> slices -> SHAP -> SMOTE -> build -> compare -> gate),
03 an image folder of class names and a model defined in the notebook, saved and loaded as a state dict."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("torch")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path, monkeypatch):
    monkeypatch.setenv("CURAKIT_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")  # what Jupyter shows
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    images = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                 if "image/png" in o.get("data", {}))
    assert images >= 4, "the notebook's plots did not render"
    text = "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                   for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    if path.name.startswith("02"):
        assert "mean_texture" in text and "naive" in text and "synthetic rows for" in text
    if path.name.startswith("03"):
        assert "'three'" in text and "my_model.pt" in "".join(c.source for c in nb.cells)
    assert os.environ["CURAKIT_NOTEBOOK_QUICK"] == "1"
