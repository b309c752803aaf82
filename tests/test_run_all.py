"""run_all.sh: stage order, selection, skip-when-unchanged, and the failing-notebook message."""

from __future__ import annotations

import os
import subprocess

import nbformat
import pytest

from idsd.paths import ROOT

pytestmark = pytest.mark.notebook


def _notebook(path, body: str):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell('quick: bool = False\noutputs_dir: str = "outputs"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("test"), params, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)


def _run(args, nb_dir, out):
    env = dict(os.environ, IDSD_NOTEBOOKS=str(nb_dir), IDSD_SKIP_APT="1")
    return subprocess.run([str(ROOT / "run_all.sh"), *args, "--outputs", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture
def stages(tmp_path):
    nb_dir = tmp_path / "nbs"
    nb_dir.mkdir()
    marker = "import pathlib; p = pathlib.Path(outputs_dir) / 'ran.txt'; p.write_text(p.read_text() + '{n} ' if p.exists() else '{n} ')"
    for n in ("01", "02", "03"):
        _notebook(nb_dir / f"{n}_stage.ipynb", marker.replace("{n}", n) + "\nassert isinstance(quick, bool)")
    return nb_dir


def test_runs_in_order_selects_and_skips(stages, tmp_path):
    out = tmp_path / "out"
    first = _run(["--quick"], stages, out)
    assert first.returncode == 0, first.stderr + first.stdout
    assert (out / "ran.txt").read_text().split() == ["01", "02", "03"]
    for n in ("01", "02", "03"):
        assert (out / "notebooks" / f"{n}_stage.ipynb").is_file()
        assert (out / "notebooks" / "logs" / f"{n}_stage.log").is_file()
    again = _run(["--quick"], stages, out)
    assert again.returncode == 0
    assert again.stdout.count("skipped") == 3
    assert (out / "ran.txt").read_text().split() == ["01", "02", "03"]
    only = _run(["--quick", "--only", "02", "--force"], stages, out)
    assert only.returncode == 0
    assert (out / "ran.txt").read_text().split() == ["01", "02", "03", "02"]
    later = _run(["--quick", "--from", "03", "--force"], stages, out)
    assert (out / "ran.txt").read_text().split()[-1] == "03" and later.returncode == 0


def test_stops_at_first_failing_notebook(stages, tmp_path):
    _notebook(stages / "02_stage.ipynb", "raise RuntimeError('boom')")
    out = tmp_path / "out"
    proc = _run(["--quick"], stages, out)
    assert proc.returncode == 1
    assert "02_stage.ipynb failed" in proc.stderr
    assert (out / "ran.txt").read_text().split() == ["01"]
    # after the fix the run resumes: 01 is skipped, 02 and 03 run
    _notebook(stages / "02_stage.ipynb", "pass")
    proc = _run(["--quick"], stages, out)
    assert proc.returncode == 0, proc.stderr
    assert "01_stage: inputs unchanged" in proc.stdout
    assert (out / "ran.txt").read_text().split() == ["01", "03"]


def test_help_and_unknown_option():
    proc = subprocess.run([str(ROOT / "run_all.sh"), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "--quick" in proc.stdout and "--only" in proc.stdout
    proc = subprocess.run([str(ROOT / "run_all.sh"), "--bogus"], capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown option" in proc.stderr
