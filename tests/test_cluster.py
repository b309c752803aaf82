"""idsd.cluster: the cluster: mapping of a study configuration, the Dask client it gives, the job scripts,
``idsd cluster check``, and how idsd.stage treats the cluster key."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time

import nbformat
import pytest
import yaml

from idsd import stage
from idsd.cli import main
from idsd.cluster import ClusterConfig, cluster_info, describe, job_script, open_client
from idsd.errors import InputError
from idsd.paths import NOTEBOOKS, ROOT

SLURM = {"kind": "slurm", "workers": 4, "cores": 16, "memory": "64GiB", "gpus": 1, "walltime": "04:00:00",
         "queue": "gpu", "account": "proj42",
         "prologue": ["module load cuda/12.4", "source $HOME/idsd/.venv/bin/activate"],
         "job_extra": ["--constraint=a100"]}


# --------------------------------------------------------------------------- the configuration

def test_no_cluster_is_none_and_a_mapping_is_checked():
    assert ClusterConfig.from_mapping(None) is None and ClusterConfig.from_mapping({}) is None
    cfg = ClusterConfig.from_mapping({**SLURM, "local_directory": "/scratch", "interface": "ib0",
                                      "address": None})
    assert (cfg.kind, cfg.workers, cfg.cores, cfg.memory, cfg.gpus) == ("slurm", 4, 16, "64GiB", 1)
    assert cfg.prologue == tuple(SLURM["prologue"]) and cfg.job_extra == ("--constraint=a100",)
    assert (cfg.local_directory, cfg.interface) == ("/scratch", "ib0")
    assert cfg.address is None and cfg.log_directory is None
    assert cfg.resources() == {"run": 1, "GPU": 1}
    default = ClusterConfig.from_mapping({"workers": 2})  # kind defaults to local
    assert default.kind == "local" and default.gpus == 0 and default.resources() == {"run": 1}
    assert default.memory is None  # local: LocalCluster's "auto", the machine's memory shared
    assert ClusterConfig.from_mapping(cfg) is cfg
    with pytest.raises(AttributeError):
        cfg.workers = 3  # frozen


@pytest.mark.parametrize("mapping, key, problem", [
    ({"kind": "local", "wrokers": 2}, "cluster.wrokers", "unknown key"),
    ({"kind": "sge"}, "cluster.kind", "unknown kind 'sge'"),
    ({"workers": 0}, "cluster.workers", "positive"),
    ({"workers": -1}, "cluster.workers", "positive"),
    ({"workers": "4"}, "cluster.workers", "integer"),
    ({"workers": True}, "cluster.workers", "integer"),
    ({"cores": 0}, "cluster.cores", "positive"),
    ({"cores": 1.5}, "cluster.cores", "integer"),
    ({"gpus": -1}, "cluster.gpus", ">= 0"),
    ({"kind": "address"}, "cluster.address", "needs the scheduler's address"),
    ({"kind": "local", "address": "tcp://h:8786"}, "cluster.address", "only used with kind address"),
    ({"kind": "slurm", "queue": "gpu"}, "cluster.memory", "kind slurm needs the memory per job"),
    ({"kind": "pbs", "memory": None}, "cluster.memory", "kind pbs needs the memory per job"),
    ({"memory": "lots"}, "cluster.memory", "not an amount of memory"),
    ({"memory": "0GiB"}, "cluster.memory", "not an amount of memory"),
    ({"memory": 8}, "cluster.memory", "non-empty string"),
    ({"queue": ""}, "cluster.queue", "non-empty string"),
    ({"prologue": "module load cuda"}, "cluster.prologue", "list of strings"),
    ({"job_extra": ["-l a\n-l b"]}, "cluster.job_extra", "one line"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_cluster_mappings_name_the_key(mapping, key, problem):
    with pytest.raises(InputError) as exc:
        ClusterConfig.from_mapping(mapping)
    message = str(exc.value)
    assert message.startswith(f"{key}: ") and problem in message and "\n" not in message, message
    assert exc.value.path == key


def test_not_a_mapping():
    with pytest.raises(InputError, match=r"^cluster: must be a mapping"):
        ClusterConfig.from_mapping(["local"])


def test_no_cluster_imports_no_dask():
    code = ("import sys\n"
            "from idsd.cluster import open_client\n"
            "from idsd.stage import load_config\n"
            "assert load_config('configs/default.yaml').get('cluster') is None\n"
            "for c in (None, {}):\n"
            "    with open_client(c) as client:\n"
            "        assert client is None\n"
            "dask = ('dask', 'distributed', 'dask_jobqueue')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in dask))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# --------------------------------------------------------------------------- a real local cluster

@pytest.fixture(scope="module")
def local():
    """A LocalCluster of 2 worker processes with 1 thread each, GPU=1 declared (no GPU needed)."""
    with open_client({"kind": "local", "workers": 2, "cores": 1, "memory": "1GiB", "gpus": 1}) as client:
        yield client


def test_local_cluster_info_and_describe(local):
    info = cluster_info(local)
    assert info["workers"] == 2 and info["threads"] == 2 and info["threads_per_worker"] == [1]
    assert info["memory"] == 2 * 2**30 and info["memory_per_worker"] == [2**30]
    assert info["gpus"] == 2 and info["resources"] == {"GPU": 2, "run": 2}
    assert [w["resources"] for w in info["per_worker"]] == [{"run": 1, "GPU": 1}] * 2
    assert [w["name"] for w in info["per_worker"]] == ["0", "1"]
    assert info["scheduler"].startswith("tcp://") and info["scheduler"] == local.scheduler.address
    text = describe(info)
    lines = text.splitlines()
    assert lines[0].startswith(f"scheduler {info['scheduler']}")
    assert lines[1] == "2 workers, 2 threads (1 per worker), memory 2.00 GiB (1.00 GiB per worker), 2 GPUs"
    assert len(lines) == 4, text
    for line in lines[2:]:
        assert line.startswith("  worker "), text
        assert line.endswith(": 1 thread, 1.00 GiB, resources GPU=1, run=1"), text


def test_workers_are_set_up_and_their_log_reaches_the_driver(local, caplog):
    setup = local.run(lambda dask_worker: ("idsd-setup" in dask_worker.plugins,
                                           os.environ.get("TF_CPP_MIN_LOG_LEVEL"),
                                           "librosa" in sys.modules,  # warm_numba_cache ran
                                           logging.getLogger("idsd").getEffectiveLevel()))
    assert list(setup.values()) == [(True, "2", True, logging.INFO)] * 2
    caplog.set_level(logging.INFO)
    # a run takes the worker's one "run" slot; GPU=1 is declared, so a GPU task is placed too
    # a lambda travels by value: the worker need not import this test module
    log_on_worker = lambda m: (logging.getLogger("idsd.test_cluster").info(m), os.getpid())[1]  # noqa: E731
    future = local.submit(log_on_worker, "hello from a worker", resources={"run": 1, "GPU": 1}, pure=False)
    pid = future.result()
    assert pid != os.getpid()
    deadline = time.monotonic() + 10
    records = []
    while not records and time.monotonic() < deadline:  # forwarded asynchronously
        time.sleep(0.05)
        records = [r for r in caplog.records if r.getMessage() == "hello from a worker"]
    assert records and records[0].name == "idsd.test_cluster" and records[0].levelno == logging.INFO


def test_kind_address_joins_a_running_scheduler_and_leaves_it_running(local):
    address = local.scheduler.address
    with open_client({"kind": "address", "address": address}) as client:
        assert client is not local and cluster_info(client)["workers"] == 2
    assert cluster_info(local)["workers"] == 2  # closing the second client closed no cluster


# --------------------------------------------------------------------------- job scripts

def test_slurm_job_script():
    script = job_script(SLURM)
    lines = script.splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    for directive in ("-p gpu", "-A proj42", "-t 04:00:00", "--cpus-per-task=16", "--mem=64G", "--gres=gpu:1",
                      "--constraint=a100"):
        assert f"#SBATCH {directive}" in lines, (directive, script)
    assert "module load cuda/12.4" in lines and "source $HOME/idsd/.venv/bin/activate" in lines
    assert lines.index("module load cuda/12.4") < next(i for i, ln in enumerate(lines) if "dask_worker" in ln)
    assert "--resources run=1,GPU=1" in script and "--nthreads 16" in script
    # the user's own GPU directive is not doubled; no GPUs: run=1 only
    assert job_script({**SLURM, "job_extra": ["--gres=gpu:a100:1"]}).count("--gres") == 1
    cpu = job_script({**SLURM, "gpus": 0})
    assert re.search(r"--resources run=1\s", cpu) and "GPU" not in cpu and "--gres" not in cpu


def test_pbs_job_script():
    script = job_script({**SLURM, "kind": "pbs", "job_extra": ["-l place=excl"], "log_directory": None})
    lines = script.splitlines()
    for directive in ("-q gpu", "-A proj42", "-l walltime=04:00:00", "-l select=1:ncpus=16:ngpus=1:mem=64GB",
                      "-l place=excl"):
        assert f"#PBS {directive}" in lines, (directive, script)
    assert "module load cuda/12.4" in lines and "source $HOME/idsd/.venv/bin/activate" in lines
    assert "--resources run=1,GPU=1" in script
    cpu = job_script({**SLURM, "kind": "pbs", "gpus": 0})
    assert "ngpus" not in cpu and re.search(r"--resources run=1\s", cpu) and "GPU" not in cpu


def test_job_script_needs_a_batch_kind():
    for cluster in (None, {"kind": "local"}, {"kind": "address", "address": "tcp://h:8786"}):
        with pytest.raises(InputError, match="kind pbs or slurm"):
            job_script(cluster)


@pytest.mark.parametrize("name, kind", [("pbs", "pbs"), ("slurm", "slurm")])
def test_the_cluster_configurations(name, kind):
    path = ROOT / "configs" / f"{name}.yaml"
    config = stage.load_config(path)
    cfg = ClusterConfig.from_mapping(config["cluster"])
    assert (cfg.kind, cfg.workers, cfg.cores, cfg.memory, cfg.gpus, cfg.walltime, cfg.queue) == (
        kind, 4, 16, "64GiB", 1, "04:00:00", "gpu")
    script = job_script(cfg)
    assert "module load cuda/12.4" in script and "--resources run=1,GPU=1" in script
    assert stage.check_config(path, sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))) == []


# --------------------------------------------------------------------------- idsd cluster check

def test_cli_check_local(tmp_path, capsys):
    config = tmp_path / "local.yaml"
    config.write_text("seed: 0\ncluster:\n  kind: local\n  workers: 1\n  cores: 1\n  memory: 512MiB\n")
    assert main(["cluster", "check", "--config", str(config), "--timeout", "60"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{config}: cluster kind local: 1 worker of 1 core, 512MiB, 0 GPUs each"
    assert out[1].startswith("scheduler tcp://")
    assert out[2] == "1 worker, 1 thread (1 per worker), memory 512.00 MiB (512.00 MiB per worker), 0 GPUs"
    assert out[3].endswith(": 1 thread, 512.00 MiB, resources run=1") and len(out) == 4


def test_cli_check_without_cluster(tmp_path, capsys):
    config = tmp_path / "plain.yaml"
    config.write_text("seed: 0\ncluster: null\n")
    assert main(["cluster", "check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert out == f"{config}: no cluster configured: the study runs in-process, without Dask\n"
    assert main(["cluster", "check"]) == 0  # configs/default.yaml
    assert "no cluster configured" in capsys.readouterr().out
    assert main(["cluster", "check", "--config", str(config), "--script"]) == 2
    err = capsys.readouterr().err
    assert err == (f"idsd cluster check: {config}: no cluster configured (the study runs in-process): "
                   "only kinds pbs and slurm have a job script\n")


def test_cli_script(tmp_path, capsys):
    assert main(["cluster", "check", "--config", str(ROOT / "configs" / "slurm.yaml"), "--script"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("#!/usr/bin/env bash\n") and "#SBATCH -p gpu" in out
    assert "--resources run=1,GPU=1" in out
    config = tmp_path / "local.yaml"
    config.write_text("cluster: {kind: local}\n")
    assert main(["cluster", "check", "--config", str(config), "--script"]) == 2
    assert capsys.readouterr().err == (f"idsd cluster check: {config}: cluster kind local: "
                                       "only kinds pbs and slurm have a job script\n")


def test_cli_bad_cluster_is_one_line(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("cluster:\n  kind: slurm\n  workers: 0\n")
    assert main(["cluster", "check", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err == f"idsd cluster check: {config}: cluster.workers: must be a positive integer, got 0\n"


# --------------------------------------------------------------------------- idsd.stage and the cluster key

def _notebook(path, params):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    nbformat.write(nb, path)
    return path


def test_load_config_takes_a_cluster_mapping_and_no_other(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("n: 1\ncluster:\n  kind: local\n  workers: 2\n")
    assert stage.load_config(path) == {"n": 1, "cluster": {"kind": "local", "workers": 2}}
    path.write_text("n: 1\nother:\n  kind: local\n")
    with pytest.raises(InputError, match="other is a mapping; parameters are flat"):
        stage.load_config(path)
    path.write_text("cluster:\n  kind: local\n  gpus: -1\n")
    with pytest.raises(InputError) as exc:
        stage.load_config(path)
    assert str(exc.value) == f"{path}: cluster.gpus: must be >= 0, got -1"
    path.write_text("cluster: local\n")
    with pytest.raises(InputError, match=r"cluster: must be a mapping"):
        stage.load_config(path)
    nb = _notebook(tmp_path / "nb.ipynb", "cluster = None")
    assert stage.main(["check-config", str(path), str(nb)]) == 2


def test_cluster_is_not_in_the_stage_hash_but_reaches_the_notebook(tmp_path):
    nb = _notebook(tmp_path / "nb.ipynb", "n: int = 1\ncluster: dict = None")
    here, slurm = {"n": 2}, {"n": 2, "cluster": SLURM}
    assert stage.stage_params(nb, here) == stage.stage_params(nb, slurm)
    assert stage.stage_params(nb, here) == stage.stage_params(nb, {"n": 2, "cluster": {"kind": "local"}})
    assert stage.stage_params(nb, {"n": 3, "cluster": SLURM}) != stage.stage_params(nb, slurm)
    assert stage.stage_params(nb, here, {"cluster": "x"}) == stage.stage_params(nb, here)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(slurm, sort_keys=False))
    args = stage.narrow_config_args(nb, ["-k", "python3", "-f", str(config)])
    assert args[:3] == ["-k", "python3", "-y"]
    assert yaml.safe_load(args[3]) == slurm  # the mapping, prologue lines with spaces and $ included
    # a notebook without the cluster parameter does not get it
    other = _notebook(tmp_path / "other.ipynb", "n: int = 1")
    assert yaml.safe_load(stage.narrow_config_args(other, ["-f", str(config)])[1]) == {"n": 2}
