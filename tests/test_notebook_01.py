"""Notebook 01 runs headless under papermill in quick mode (what run_all.sh --quick does)."""

from __future__ import annotations

import os
import shutil

import pytest

from idsd.corpus.sources import available_languages
from idsd.paths import NOTEBOOKS
from idsd.study import Study

NB = NOTEBOOKS / "01_data_prep.ipynb"


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.skipif(not available_languages() or shutil.which("espeak-ng") is None,
                    reason="embedded suite sources not installed")
def test_notebook_01_quick(tmp_path, monkeypatch):
    import papermill as pm

    from idsd.paths import Outputs

    for k, v in dict(IDSD_HEADLESS="1", MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="2", TQDM_MININTERVAL="30").items():
        monkeypatch.setenv(k, v)
    out = tmp_path / "outputs"
    pm.execute_notebook(str(NB), str(tmp_path / "01.ipynb"), kernel_name="python3", progress_bar=False,
                        parameters=dict(quick=True, outputs_dir=str(out)), cwd=str(tmp_path))
    outputs = Outputs(out)
    study = Study.load(outputs)
    assert study.quick and len(study.train_corpora) == 4
    for name in ("data_counts.csv", "shortcut_audit.csv"):
        assert os.path.getsize(outputs.tables / name) > 0
    assert (outputs.figures / "data_distributions.png").is_file()
    assert study.modified(outputs) is not None
