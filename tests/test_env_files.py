"""environment.yml, requirements and pyproject stay in sync (one source of versions)."""

from __future__ import annotations

import re
import tomllib

import yaml

from idsd.paths import ROOT


def _pins(path):
    pins = {}
    for line in (ROOT / path).read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def test_requirements_are_exact_pins():
    pins = _pins("requirements.txt")
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            assert "==" in line, f"unpinned requirement: {line}"
    assert pins["tensorflow-cpu"].startswith("2.21.")
    assert pins["keras"].startswith("3.")
    assert pins["librosa"].startswith("0.11.")
    assert tuple(int(x) for x in pins["numpy"].split(".")[:2]) <= (2, 4)


def test_dev_requirements_extend_runtime():
    text = (ROOT / "requirements-dev.txt").read_text()
    assert "-r requirements.txt" in text
    dev = _pins("requirements-dev.txt")
    assert {"pytest", "ruff", "jax"} <= set(dev)
    assert not set(dev) & set(_pins("requirements.txt")), "a package is pinned twice"


def test_pyproject_reads_requirements():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["tool"]["setuptools"]["dynamic"]["dependencies"]["file"] == ["requirements.txt"]
    assert meta["project"]["requires-python"].startswith(">=3.11")
    assert meta["project"]["scripts"]["idsd"] == "idsd.cli:main"


def test_environment_yml_in_sync():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert "-r requirements.txt" in pip_section
    assert "-e ." in pip_section
    # nothing in the yml may pin a version of its own
    for d in deps:
        if isinstance(d, str) and d != "python=3.11":
            assert not re.search(r"[=<>]", d), f"environment.yml pins {d}; pin in requirements.txt instead"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", readme, flags=re.S)
    first = [ln.strip() for ln in blocks[0].splitlines() if ln.strip() and not ln.startswith("#")]
    assert first[0] == "./run_all.sh"
    test_command = first[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci.splitlines()


def test_reference_pins_match_the_runtime():
    """tf-keras is the Keras 2 of the pinned TensorFlow; keras-tcn the version of the parameter table."""
    tcn, runtime = _pins("requirements-tcn.txt"), _pins("requirements.txt")
    assert tcn["tf-keras"].split(".")[:2] == runtime["tensorflow-cpu"].split(".")[:2]
    assert tcn["keras-tcn"] == "3.5.7"
    assert not set(tcn) & (set(runtime) | set(_pins("requirements-dev.txt")))
