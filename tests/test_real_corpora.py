"""The real-corpus path end to end: a generated tree in the published layouts (FoR for-2seconds and
for-rerecorded, ASVspoof 2019 LA, WaveFake with LJSpeech and JSUT, In-the-Wild, ASVspoof 5) goes
through ``./run_all.sh --data TREE --quick``: every notebook runs, the study finds every corpus,
every table names the corpora as the paper does (F2S, FREC, AS19, WF, ...) with the paper's values
beside ours, and the cross-dataset evaluation covers every evaluation corpus.
"""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pandas as pd
import pytest

from idsd import paper_values as P
from idsd.datasets.synthetic_tree import make_real_corpora_tree
from idsd.paths import NOTEBOOKS, ROOT, Outputs
from idsd.study import Study

pytestmark = [pytest.mark.notebook, pytest.mark.slow]

CORPORA = {"for-2sec": "F2S", "for-rerec": "FREC", "asvspoof2019": "AS19", "wavefake": "WF",
           "inthewild": "ITW", "asvspoof5": "AS5"}
TRAINED = ("for-2sec", "for-rerec", "asvspoof2019", "wavefake")


@pytest.fixture(scope="module")
def real_study(tmp_path_factory) -> Outputs:
    base = tmp_path_factory.mktemp("real")
    tree = make_real_corpora_tree(base / "corpora", seed=0)
    out = base / "outputs"
    env = dict(os.environ, IDSD_SKIP_APT="1")
    proc = subprocess.run([str(ROOT / "run_all.sh"), "--quick", "--data", str(base / "corpora"), "--outputs", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert set(tree) >= set(CORPORA)
    return Outputs(out)


def _table(out: Outputs, name: str) -> pd.DataFrame:
    return pd.read_csv(out.tables / f"{name}.csv")


def test_every_notebook_ran_on_the_real_corpora(real_study):
    for nb in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        assert (real_study.notebooks / nb.name).is_file(), nb.name
    record = json.loads((real_study.notebooks / "run.json").read_text())
    assert record["study_name"] == "quick"


def test_the_study_finds_every_corpus_under_its_paper_name(real_study):
    study = Study.load(real_study)
    assert study.source == "real"
    assert {c.name: c.paper_name for c in study.corpora} == CORPORA
    assert study.train_corpora == [c for c in study.eval_corpora if c in TRAINED] and len(study.train_corpora) == 4
    assert study.learning_curve_corpus == "wavefake" and study.modified_base == "for-2sec"
    itw = study.manifest(real_study, "inthewild")
    assert set(itw["split"]) == {"eval"} and set(itw["target"]) == {0, 1}


def test_in_domain_table_puts_the_papers_values_beside_ours(real_study):
    t = _table(real_study, "in_domain_eer_vs_paper").set_index("feature")
    pv = P.in_domain_eer()
    for corpus in TRAINED:
        name = CORPORA[corpus]
        cols = list(t.columns)
        i = cols.index(f"ours ({corpus})")
        # ours with its interval, pyeer's EER of the same trials, then the paper's cell
        assert cols[i + 1:i + 5] == [f"ours ({corpus}) lo", f"ours ({corpus}) hi", f"ours ({corpus}) pyeer",
                                     f"paper ({name})"]
        for f in ("mel", "mfcc"):
            assert t.loc[f, f"paper ({name})"] == pytest.approx(pv.loc[name, f])
            assert 0 <= t.loc[f, f"ours ({corpus}) pyeer"] <= 1
            assert t.loc[f, f"ours ({corpus}) lo"] <= t.loc[f, f"ours ({corpus})"] <= t.loc[f, f"ours ({corpus}) hi"]
    total = [c for c in t.columns if c.startswith("paper (Total")]
    assert total == ["paper (Total: F2S+FREC+AS19+WF)"]
    md = (real_study.tables / "in_domain_eer_vs_paper.md").read_text()
    for name in ("F2S", "FREC", "AS19", "WF"):
        assert f"paper ({name})" in md


def test_cross_dataset_covers_every_evaluation_corpus(real_study):
    pairs = _table(real_study, "cross_dataset_pairs")
    detector = pairs[pairs["feature"].isin(["mel", "mfcc"])]
    for corpus in TRAINED:
        seen = set(detector.loc[detector["train_corpus"] == corpus, "eval_corpus"])
        assert seen == set(CORPORA) - {corpus}, corpus  # the 3 other training corpora + ITW + AS5
    by_eval = _table(real_study, "cross_dataset_by_eval_corpus")
    assert set(by_eval["eval_corpus"]) == set(CORPORA)
    assert np.isfinite(pairs["eer"]).all() and pairs["eer"].between(0, 1).all()
    assert {"pyeer_eer", "lo", "hi"} <= set(pairs.columns)
    md = (real_study.tables / "cross_dataset_by_eval_corpus.md").read_text()
    for corpus, name in CORPORA.items():  # the shown tables give the paper's abbreviation with each name
        assert f"| {corpus} ({name})" in md, corpus
    assert "`inthewild` stands for ITW" in md


def test_learning_curve_and_robustness_on_the_papers_corpora(real_study):
    lc = _table(real_study, "learning_curve_vs_paper")
    assert "ours (wavefake) mfcc" in lc and "ours (wavefake) mfcc pyeer" in lc and "paper (WF) mfcc" in lc
    assert lc["paper (WF) mfcc"].notna().any()
    rob = _table(real_study, "robustness_eer")
    assert len(rob) and rob["eer"].between(0, 1).all()
    results = (real_study.tables / "results.md").read_text()
    for name in ("F2S", "FREC", "AS19", "WF"):
        assert name in results
