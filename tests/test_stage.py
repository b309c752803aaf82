"""idsd.stage: the parameters a notebook declares, the package modules it imports, the stage hash."""

from __future__ import annotations

import json

import nbformat
import pytest
import yaml

from idsd import stage
from idsd.paths import NOTEBOOKS, ROOT


def _notebook(path, *cells: str, params: str = 'outputs_dir: str = "outputs"\nn: int = 1'):
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), p, *(nbformat.v4.new_code_cell(c) for c in cells)]
    nbformat.write(nb, path)
    return path


@pytest.fixture
def package(tmp_path):
    """A fake checkout: idsd/ with a, b (imported by a), c (imported by nobody), sub/ (relative imports)."""
    pkg = tmp_path / "idsd"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": '"""pkg"""\n',
        "a.py": "from idsd import b\n\n\ndef f():\n    from idsd.sub.x import g  # lazy imports count too\n    return g\n",
        "b.py": "import os\nX = 1\n",
        "c.py": "Y = 2\n",
        "d.py": "Z = 3\n",
        "sub/__init__.py": "from .x import g\n",
        "sub/x.py": "from ..d import Z\n\n\ndef g():\n    return Z\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    (tmp_path / "requirements.txt").write_text("numpy==2.0\n")
    nb = _notebook(tmp_path / "01_x.ipynb", "%matplotlib inline\nimport pandas as pd\nfrom idsd.a import f\n!ls\nprint(f())")
    return tmp_path, nb


def test_notebook_parameters_are_read_from_the_tagged_cell(tmp_path):
    nb = _notebook(tmp_path / "n.ipynb", "x = 3", params=(
        '# comment\nquick_name: str = "a"  # help\nitems: list = ["x", "y"]\nnone_yet: int = None\n'
        "flag = True\nexpr: int = 2 * 3\n"))
    assert stage.notebook_parameters(nb) == {"quick_name": "a", "items": ["x", "y"], "none_yet": None, "flag": True,
                                             "expr": "2 * 3"}
    plain = tmp_path / "plain.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("a = 1")]), plain)
    assert stage.notebook_parameters(plain) == {}


def test_modules_are_followed_transitively(package):
    root, nb = package
    rel = {p.relative_to(root).as_posix() for p in stage.notebook_modules(nb, root)}
    assert rel == {"idsd/__init__.py", "idsd/a.py", "idsd/b.py", "idsd/sub/__init__.py", "idsd/sub/x.py", "idsd/d.py"}


def test_hash_covers_what_the_notebook_imports_and_nothing_else(package):
    root, nb = package
    h = stage.stage_hash(nb, "{}", "", root)
    assert len(h) == 16 and stage.stage_hash(nb, "{}", "", root) == h
    (root / "idsd" / "c.py").write_text("Y = 3  # imported by no module of the notebook\n")
    assert stage.stage_hash(nb, "{}", "", root) == h
    (root / "idsd" / "d.py").write_text("Z = 4  # imported through sub/__init__ -> sub/x -> ..d\n")
    h2 = stage.stage_hash(nb, "{}", "", root)
    assert h2 != h
    (root / "idsd" / "b.py").write_text("X = 2\n")
    h3 = stage.stage_hash(nb, "{}", "", root)
    assert h3 != h2
    (root / "requirements.txt").write_text("numpy==2.1\n")
    h4 = stage.stage_hash(nb, "{}", "", root)
    assert h4 != h3
    assert stage.stage_hash(nb, "{}", "previous", root) != h4
    assert stage.stage_hash(nb, '{"n": 2}', "", root) != h4


def test_params_text_counts_the_notebooks_own_parameters(package):
    root, nb = package
    base = stage.stage_params(nb)
    assert stage.stage_params(nb, {"n": 1}) != base  # given explicitly (the notebook file covers its default)
    assert stage.stage_params(nb, {"n": 2}) != stage.stage_params(nb, {"n": 1})
    assert stage.stage_params(nb, {"n": 2, "other": 1}) == stage.stage_params(nb, {"n": 2})  # not its parameter
    assert stage.stage_params(nb, {"n": 2}, {"n": "3"}) == stage.stage_params(nb, overrides={"n": "3"})
    assert stage.stage_params(nb, env={"KERAS_BACKEND": "jax"}) != stage.stage_params(nb, env={"KERAS_BACKEND": ""})
    hashes = {stage.stage_hash(nb, stage.stage_params(nb, {"n": k}), "", root) for k in (1, 2, 3)}
    assert len(hashes) == 3


def test_hash_command_line(package, tmp_path, capsys, monkeypatch):
    root, nb = package
    monkeypatch.setattr(stage, "ROOT", root)
    config = tmp_path / "c.yaml"
    config.write_text("n: 5\nunrelated: x\n")

    def run(*args) -> str:
        assert stage.main(["hash", str(nb), *args]) == 0
        return capsys.readouterr().out.strip()

    with_config = run("--config", str(config))
    assert with_config == stage.stage_hash(nb, stage.stage_params(nb, {"n": 5}, env={}), "", root)
    config.write_text("# comment\nunrelated: y\nn: 5\n")
    assert run("--config", str(config)) == with_config
    assert run("--config", str(config), "--set", "n=6") != with_config
    assert run("--config", str(config), "--previous", "abc") != with_config
    assert stage.main(["params", str(nb)]) == 0
    assert capsys.readouterr().out.split() == ["outputs_dir", "n"]


def test_real_notebooks_depend_on_their_imports():
    prep = stage.notebook_modules(NOTEBOOKS / "01_data_prep.ipynb")
    assert ROOT / "idsd" / "corpus" / "prepare.py" in prep and ROOT / "idsd" / "__init__.py" in prep
    for nb in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        modules = stage.notebook_modules(nb)
        assert modules and ROOT / "idsd" / "stage.py" not in modules, nb.name
        assert not any(p.is_relative_to(ROOT / "idsd" / "commands") for p in modules), nb.name


def test_config_is_narrowed_to_the_notebooks_parameters(package, tmp_path):
    _, nb = package
    config = tmp_path / "c.yaml"
    config.write_text("n: 7\nother: [1, 2]\n")
    args = stage.narrow_config_args(nb, ["-k", "python3", "-f", str(config), "-r", "outputs_dir", "o"])
    assert args[:2] == ["-k", "python3"] and args[2] == "-y" and args[4:] == ["-r", "outputs_dir", "o"]
    assert yaml.safe_load(args[3]) == {"n": 7}
    config.write_text("other: 1\n")
    assert stage.narrow_config_args(nb, ["-f", str(config), "--log-output"]) == ["--log-output"]


def test_config_files_are_flat_mappings(tmp_path, package):
    _, nb = package
    path = tmp_path / "c.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="mapping"):
        stage.load_config(path)
    path.write_text("n:\n  nested: 1\n")
    with pytest.raises(ValueError, match="flat"):
        stage.load_config(path)
    path.write_text("when: 2024-01-01\nn: 1\n")
    assert stage.load_config(path) == {"when": "2024-01-01", "n": 1}  # papermill's loader: no dates
    assert stage.check_config(path, [nb]) == ["when"]
    assert stage.main(["check-config", str(path), str(nb)]) == 2


def test_run_record(tmp_path):
    config = tmp_path / "quick.yaml"
    config.write_text("study_name: quick\n")
    path = stage.write_run_record(tmp_path / "run.json", str(config), "abc", True)
    record = json.loads(path.read_text())
    assert record["commit"] == "abc" and record["dirty"] is True and record["study_name"] == "quick"
    assert record["config"] == str(config) and record["started"].endswith("Z")
    assert not list(tmp_path.glob("run.json.tmp*"))


def test_legacy_usage_is_checked(capsys):
    assert stage.main(["nb.ipynb", "out.ipynb"]) == 2
    assert "usage" in capsys.readouterr().err
