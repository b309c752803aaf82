"""idsd.readme: the README's results block is replaced from the outputs, idempotently."""

from __future__ import annotations

import json

import pytest

from idsd.paths import Outputs
from idsd.readme import END, START, update_readme

RESULTS = """# Results (embedded corpora, input mode array, pooling avg)

intro

## 1. In-domain EER per representation and training corpus

| feature | ours (mini-for) | paper (F2S) |
|:--|--:|--:|
| mel | 0.1000 | 0.0559 |

## 2. Cross-dataset EER

other
"""


@pytest.fixture
def setup(tmp_path):
    out = Outputs(tmp_path / "outputs").make()
    (out.tables / "results.md").write_text(RESULTS)
    (out.figures / "in_domain_eer.png").write_bytes(b"\x89PNG fake")
    (out.manifests / "study.json").write_text(json.dumps({"source": "embedded", "quick": False}))
    readme = tmp_path / "README.md"
    readme.write_text(f"# T\n\nbefore\n\n{START}\nold\n{END}\n\nafter\n")
    return out, readme, tmp_path / "docs" / "results"


def test_block_replaced_and_idempotent(setup):
    out, readme, docs = setup
    update_readme(out, readme, docs)
    text = readme.read_text()
    assert "old" not in text and text.startswith("# T\n\nbefore") and text.rstrip().endswith("after")
    assert "| mel | 0.1000 | 0.0559 |" in text and "Cross-dataset" not in text.split(END)[0].split(START)[1].split("docs")[0]
    assert "![In-domain EER per representation and training corpus](docs/results/in_domain_eer.png)" in text
    assert "embedded corpora" in text
    assert (docs / "results.md").read_text() == RESULTS and (docs / "in_domain_eer.png").is_file()
    update_readme(out, readme, docs)
    assert readme.read_text() == text


def test_missing_markers_or_results(setup, tmp_path):
    out, readme, docs = setup
    readme.write_text("# no markers\n")
    with pytest.raises(ValueError, match="results:start"):
        update_readme(out, readme, docs)
    readme.write_text(f"{START}\n{END}\n")
    (out.tables / "results.md").unlink()
    with pytest.raises(FileNotFoundError, match="notebook 07"):
        update_readme(out, readme, docs)
