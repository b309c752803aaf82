"""The study configurations (configs/*.yaml) against the notebooks' parameters cells.

Every key is a parameter of some notebook, the notebooks' defaults are configs/default.yaml, and
configs/quick.yaml is what quick mode was before the configurations (so the quick study's tables
stay byte-identical).
"""

from __future__ import annotations

import json
import re

import pytest

from idsd.cluster import ClusterConfig
from idsd.paths import NOTEBOOKS, ROOT
from idsd.stage import load_config, notebook_parameters, parameters_source

CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
NOTEBOOK_FILES = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
PARAMS = {nb.name[:2]: notebook_parameters(nb) for nb in NOTEBOOK_FILES}
SET_BY_RUN_ALL = {"outputs_dir"}  # ./run_all.sh --outputs

# What `quick=True` did in each notebook (and in prepare_study) before the configurations.
QUICK = {
    "study_name": "quick",  # 01: prepare_study(quick=True): study.json records it
    "preset": "tiny",  # 01: prepare_study's suite preset when quick
    "modify_limit": 6,  # 01: prepare_study's QUICK_MODIFY
    "real_files_per_class": 48,  # 01: prepare_study's QUICK_REAL_FILES
    "listen_examples": 1,  # 01: min(listen_examples, 1)
    "audit_max_per_group": 50,  # 01: min(audit_max_per_group or 50, 50)
    "features": ["mel", "mfcc"],  # 02, 03
    "bench_clips": 4,  # 02: min(bench_clips, 4)
    "profile": "quick",  # 03, 06
    "extra_seeds": [1],  # 03
    "seed_features": ["mfcc"],  # 03
    "n_boot": 200,  # 04, 05, 06, 07: min(n_boot, 200)
    "lc_features": ["mfcc"],  # 06
    "lc_subsets": 3,  # 06: min(n_subsets or 3, 3)
    "lc_epochs": 1,  # 06: epochs or 1
    "explain_clips": 16,  # 08: fewer clips explained
    "explain_ablation_clips": 24,  # 08: fewer clips in the band removal
}


def test_the_presets_exist():
    assert {p.stem for p in CONFIGS} >= {"default", "quick", "large", "real-corpora"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_key_is_a_notebook_parameter(path):
    config = load_config(path)
    known = set().union(*(p.keys() for p in PARAMS.values())) - SET_BY_RUN_ALL
    assert config and set(config) <= known, f"{path.name}: no notebook has {sorted(set(config) - known)}"
    for key, value in config.items():
        if key == "cluster":  # the one mapping: a Dask cluster (idsd.cluster), checked by its own parser
            assert value is None or ClusterConfig.from_mapping(value).kind in ("local", "pbs", "slurm", "address")
            continue
        assert value is None or isinstance(value, (str, int, float, bool, list)), (path.name, key)
        if isinstance(value, list):
            assert all(isinstance(v, (str, int, float, bool)) for v in value), (path.name, key)


@pytest.mark.parametrize("nb", sorted(PARAMS), ids=lambda n: n)
def test_notebook_defaults_are_the_default_config(nb):
    default = load_config(ROOT / "configs" / "default.yaml")
    for key, value in PARAMS[nb].items():
        if key in SET_BY_RUN_ALL:
            continue
        assert key in default, f"notebook {nb}: parameter {key} missing from configs/default.yaml"
        assert default[key] == value, f"notebook {nb}: {key} defaults to {value!r}, configs/default.yaml says {default[key]!r}"


def test_default_config_is_complete_and_keys_mean_one_thing():
    default = load_config(ROOT / "configs" / "default.yaml")
    every = set().union(*(p.keys() for p in PARAMS.values())) - SET_BY_RUN_ALL
    assert set(default) == every
    # a key shared by notebooks has one default everywhere (checked above against default.yaml), and
    # the notebook-specific names stay notebook-specific
    owners = {k: sorted(n for n, p in PARAMS.items() if k in p) for k in every}
    assert owners["data_root"] == ["01"] and owners["study_name"] == ["01"] and owners["preset"] == ["01"]
    assert owners["robustness_corpus"] == ["05"]
    assert all(owners[k] == ["06"] for k in ("lc_features", "lc_subsets", "lc_epochs", "lc_corpus"))
    assert owners["features"] == ["02", "03", "04", "05", "08"] and owners["profile"] == ["03", "06"]
    assert all(owners[k] == ["08"] for k in every if k.startswith("explain_"))
    assert "quick" not in every and "corpus" not in every and "n_subsets" not in every and "train_corpus" not in every


def test_quick_config_keeps_the_quick_values():
    quick = load_config(ROOT / "configs" / "quick.yaml")
    for key, value in QUICK.items():
        assert quick.get(key) == value, f"configs/quick.yaml: {key} should be {value!r} (quick mode), is {quick.get(key)!r}"
    default = load_config(ROOT / "configs" / "default.yaml")
    # every other key quick.yaml sets is the default value (quick mode changed nothing else)
    assert {k: v for k, v in quick.items() if k not in QUICK} == {k: default[k] for k in quick if k not in QUICK}


def test_real_corpora_template_runs_the_paper_grid():
    real = load_config(ROOT / "configs" / "real-corpora.yaml")
    assert real["profile"] == "paper" and real["grid"] == "full" and real["data_root"]
    text = (ROOT / "configs" / "real-corpora.yaml").read_text()
    assert "--config" in text and "data_root" in text


def test_notebooks_have_no_quick_mode():
    for nb in NOTEBOOK_FILES:
        cells = json.loads(nb.read_text())["cells"]
        for cell in cells:
            if cell["cell_type"] != "code":
                continue
            src = "".join(cell["source"])
            assert not re.search(r"^\s*if quick\b", src, flags=re.M), f"{nb.name}: an `if quick:` block is left"


@pytest.mark.parametrize("nb", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_papermill_sees_the_same_parameters(nb):
    """papermill parses the cell line by line (a comment with '=' hides a parameter: 'unknown parameter')."""
    from papermill.translators import PythonTranslator

    names = [p.name for p in PythonTranslator.inspect({"source": parameters_source(nb)})]
    assert names == list(PARAMS[nb.name[:2]])
