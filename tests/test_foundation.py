"""The package skeleton: paths, CLI, version."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import idsd
from idsd import paths
from idsd.cli import main


def test_root_is_the_repository_not_the_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert (paths.ROOT / "idsd" / "__init__.py").is_file()
    assert paths.resolve("outputs") == paths.ROOT / "outputs"
    assert paths.resolve(tmp_path) == tmp_path


def test_outputs_layout(tmp_path):
    out = paths.Outputs(tmp_path / "o").make()
    for sub in paths.Outputs.SUBDIRS:
        assert (tmp_path / "o" / sub).is_dir()
    assert out.tables == tmp_path / "o" / "tables"


def test_cli_version_and_help(capsys):
    for argv in (["--version"], ["--help"]):
        try:
            main(argv)
        except SystemExit as exc:
            assert exc.code == 0
    out = capsys.readouterr().out
    assert f"idsd {idsd.__version__}" in out
    assert "COMMAND" in out


def test_console_script_runs_from_anywhere(tmp_path):
    exe = Path(sys.executable).with_name("idsd")
    proc = subprocess.run([str(exe), "--version"], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == f"idsd {idsd.__version__}"


def test_constants():
    assert idsd.CLIP_SAMPLES == int(idsd.SAMPLE_RATE * idsd.CLIP_SECONDS) == 32000


def test_env_root_override(tmp_path):
    code = "from idsd import paths; print(paths.ROOT)"
    env = dict(os.environ, IDSD_ROOT=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert Path(out.stdout.strip()) == tmp_path.resolve()
