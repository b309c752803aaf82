"""run_all.sh: stage order, selection, skip-when-unchanged, the study configuration, the failing-notebook
message, and publishing as a separate step."""

from __future__ import annotations

import json
import os
import re
import subprocess

import nbformat
import pytest

from idsd.paths import ROOT

pytestmark = pytest.mark.notebook

PARAMS = {
    "01": 'outputs_dir: str = "outputs"\ndata_root: str = ""\nlabel: str = "default"',
    "02": 'outputs_dir: str = "outputs"\nlabel: str = "default"\nsecond: int = 0\ngrid: str = "default"',
    "03": 'outputs_dir: str = "outputs"\nlabel: str = "default"\nprofile: str = "cpu"',
}
# every stage appends "<stage>:<label>" to ran.txt and dumps its globals' parameters to <stage>.json
BODY = ("import json, pathlib\np = pathlib.Path(outputs_dir) / 'ran.txt'\n"
        "p.write_text((p.read_text() if p.exists() else '') + '{n}:' + label + ' ')\n"
        "names = {names}\n"
        "(pathlib.Path(outputs_dir) / '{n}.json').write_text(json.dumps({{k: globals()[k] for k in names}}))")


def _notebook(path, params: str, body: str):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("test"), cell, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)


def _stage(nb_dir, n: str, body: str | None = None):
    names = [line.split(":")[0] for line in PARAMS[n].splitlines() if line.split(":")[0] != "outputs_dir"]
    _notebook(nb_dir / f"{n}_stage.ipynb", PARAMS[n], body or BODY.format(n=n, names=names))


def _run(args, nb_dir, out=None):
    env = dict(os.environ, IDSD_NOTEBOOKS=str(nb_dir), IDSD_SKIP_APT="1")
    env.pop("KERAS_BACKEND", None)
    extra = ["--outputs", str(out)] if out is not None else []
    return subprocess.run([str(ROOT / "run_all.sh"), *args, *extra], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def _ran(out) -> list[str]:
    return (out / "ran.txt").read_text().split()


@pytest.fixture
def stages(tmp_path):
    nb_dir = tmp_path / "nbs"
    nb_dir.mkdir()
    for n in PARAMS:
        _stage(nb_dir, n)
    return nb_dir


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text("label: small  # every stage has it\nsecond: 2\n")
    return path


def test_runs_in_order_selects_and_skips(stages, config, tmp_path):
    out = tmp_path / "out"
    first = _run(["--config", str(config)], stages, out)
    assert first.returncode == 0, first.stderr + first.stdout
    assert _ran(out) == ["01:small", "02:small", "03:small"]
    for n in PARAMS:
        assert (out / "notebooks" / f"{n}_stage.ipynb").is_file()
        assert (out / "notebooks" / "logs" / f"{n}_stage.log").is_file()
    assert json.loads((out / "02.json").read_text()) == {"label": "small", "second": 2, "grid": "default"}
    again = _run(["--config", str(config)], stages, out)
    assert again.returncode == 0
    assert again.stdout.count("skipped") == 3
    assert len(_ran(out)) == 3
    only = _run(["--config", str(config), "--only", "02", "--force"], stages, out)
    assert only.returncode == 0
    assert _ran(out)[3:] == ["02:small"]
    later = _run(["--config", str(config), "--from", "03", "--force"], stages, out)
    assert _ran(out)[-1] == "03:small" and later.returncode == 0


def test_config_change_reruns_the_stages_it_concerns(stages, config, tmp_path):
    out = tmp_path / "out"
    assert _run(["--config", str(config)], stages, out).returncode == 0
    # `second` is a parameter of 02 only: 01 keeps its hash, 02 and (through the chain) 03 run again
    config.write_text("label: small\nsecond: 3\n")
    proc = _run(["--config", str(config)], stages, out)
    assert proc.returncode == 0, proc.stderr
    assert "01_stage: inputs unchanged" in proc.stdout
    assert _ran(out)[3:] == ["02:small", "03:small"]
    # a comment or a reordering changes no parameter value: everything is skipped
    config.write_text("# the same study\nsecond: 3\nlabel: small\n")
    assert _run(["--config", str(config)], stages, out).stdout.count("skipped") == 3


def test_command_line_parameters_reach_only_the_notebooks_that_declare_them(stages, config, tmp_path):
    out = tmp_path / "out"
    proc = _run(["--config", str(config), "--data", "/some/where", "--full-grid", "--profile", "paper"], stages, out)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert json.loads((out / "01.json").read_text())["data_root"] == "/some/where"
    assert json.loads((out / "02.json").read_text())["grid"] == "full"
    assert json.loads((out / "03.json").read_text())["profile"] == "paper"
    # the executed notebooks' injected cells name only their own parameters (config narrowed to them)
    injected = {}
    for n in PARAMS:
        nb = nbformat.read(out / "notebooks" / f"{n}_stage.ipynb", as_version=4)
        cell = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
        injected[n] = set(re.findall(r"^(\w+) = ", cell.source, flags=re.M))
    assert injected == {"01": {"label", "data_root", "outputs_dir"}, "02": {"label", "second", "grid", "outputs_dir"},
                        "03": {"label", "profile", "outputs_dir"}}
    assert "unknown parameter" not in (out / "notebooks" / "logs" / "01_stage.log").read_text()
    # the data root is part of 01's stage hash (and so of every later one)
    again = _run(["--config", str(config), "--data", "/else/where", "--full-grid", "--profile", "paper"], stages, out)
    assert again.returncode == 0 and "skipped" not in again.stdout
    record = json.loads((out / "notebooks" / "run.json").read_text())
    assert record["config"] == str(config) and record["study_name"] == "study"


def test_unknown_config_key_stops_before_any_stage(stages, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("label: x\nlabell: y\n")
    out = tmp_path / "out"
    proc = _run(["--config", str(bad)], stages, out)
    assert proc.returncode == 2 and "labell" in proc.stderr
    assert not (out / "ran.txt").exists()
    # --quick is configs/quick.yaml, whose keys these test notebooks do not declare
    proc = _run(["--quick"], stages, out)
    assert proc.returncode == 2 and "study_name" in proc.stderr
    proc = _run(["--quick", "--config", str(bad)], stages, out)
    assert proc.returncode == 2 and "give one of them" in proc.stderr
    proc = _run(["--config", str(tmp_path / "missing.yaml")], stages, out)
    assert proc.returncode == 2 and "not found" in proc.stderr


def test_stops_at_first_failing_notebook(stages, config, tmp_path):
    _stage(stages, "02", body="raise RuntimeError('boom')")
    out = tmp_path / "out"
    proc = _run(["--config", str(config)], stages, out)
    assert proc.returncode == 1
    assert "02_stage.ipynb failed" in proc.stderr
    assert _ran(out) == ["01:small"]
    # after the fix the run resumes: 01 is skipped, 02 and 03 run
    _stage(stages, "02")
    proc = _run(["--config", str(config)], stages, out)
    assert proc.returncode == 0, proc.stderr
    assert "01_stage: inputs unchanged" in proc.stdout
    assert _ran(out) == ["01:small", "02:small", "03:small"]


def _results_block() -> str:  # (others may edit the rest of the README meanwhile)
    text = (ROOT / "README.md").read_text()
    return text[text.index("<!-- results:start -->"):text.index("<!-- results:end -->")]


def test_writes_only_under_outputs_and_publishes_on_request(stages, config, tmp_path):
    readme = _results_block()
    out = tmp_path / "out"
    proc = _run(["--config", str(config)], stages, out)
    assert proc.returncode == 0 and f"./run_all.sh --publish --outputs {out}" in proc.stdout
    assert _results_block() == readme
    script = (ROOT / "run_all.sh").read_text()
    assert script.count('"$PY" -m idsd.readme') == 1 and 'exec "$PY" -m idsd.readme' in script
    # --publish runs idsd.readme on the outputs and nothing else (here: no results.md yet)
    proc = _run(["--publish"], stages, out)
    assert proc.returncode != 0 and "notebook 07" in proc.stderr and "==" not in proc.stdout
    assert _results_block() == readme
    proc = _run(["--publish", "--only", "02"], stages, out)
    assert proc.returncode == 2 and "--publish takes only --outputs" in proc.stderr


def test_help_and_unknown_option():
    proc = subprocess.run([str(ROOT / "run_all.sh"), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for option in ("--quick", "--only", "--config", "--publish", "--profile", "--full-grid", "--data"):
        assert option in proc.stdout
    proc = subprocess.run([str(ROOT / "run_all.sh"), "--bogus"], capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown option" in proc.stderr


def test_real_corpora_on_a_gpu_default_to_the_paper_profile(tmp_path):
    """--data with --gpu trains with the paper's protocol unless a profile or a configuration is given;
    the embedded study keeps the default configuration's cpu profile."""
    from idsd.stage import load_config

    default = load_config(ROOT / "configs" / "default.yaml")
    nb_dir = tmp_path / "nbs"
    nb_dir.mkdir()
    # one stage that declares every key of the default configuration (so it can run without --config)
    params = "\n".join(f"{k} = {v!r}" for k, v in {"outputs_dir": "outputs", **default}.items())
    names = ["profile", "data_root"]
    _notebook(nb_dir / "03_stage.ipynb", params, BODY.format(n="03", names=names).replace("label", "profile"))

    def profile(*args):
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
        proc = _run(list(args), nb_dir, out)
        assert proc.returncode == 0, proc.stderr + proc.stdout
        return json.loads((out / "03.json").read_text())["profile"]

    assert default["profile"] == "cpu"
    assert profile() == "cpu"
    assert profile("--data", "/corpora") == "cpu"  # no GPU: the CPU budget
    assert profile("--data", "/corpora", "--gpu") == "paper"
    assert profile("--data", "/corpora", "--gpu", "--profile", "cpu") == "cpu"
    own = tmp_path / "mine.yaml"
    own.write_text("profile: quick\n")
    assert profile("--data", "/corpora", "--gpu", "--config", str(own)) == "quick"  # one's own choice stands
    bad = _run(["--profile", "fast"], nb_dir, tmp_path / "bad")
    assert bad.returncode == 2 and "unknown profile 'fast'" in bad.stderr
