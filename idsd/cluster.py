"""The study on a Dask cluster: one way to get a ``distributed.Client`` from the study configuration.

A study configuration (``configs/*.yaml``) may hold one mapping, ``cluster:``, that says where the
training and scoring runs go::

    cluster:
      kind: slurm          # local | pbs | slurm | address
      workers: 4           # local: worker processes; pbs/slurm: batch jobs (one worker each)
      cores: 16            # threads per worker = cores per job
      memory: 64GiB        # per worker / job
      gpus: 1              # per worker / job
      walltime: "04:00:00"
      queue: gpu           # PBS queue / Slurm partition
      prologue: [module load cuda/12.4, source $HOME/idsd/.venv/bin/activate]

Without it (``cluster: null`` or no key) nothing imports Dask and every run stays in the notebook's
process. :func:`open_client` turns the mapping into a client; :func:`job_script` shows the batch
script that PBS or Slurm would get, without submitting anything.

**Worker resources** (a contract of the modules that submit runs): every worker declares
``run=1`` (one training or scoring run at a time: a run uses all the worker's cores) and, when
``gpus > 0``, ``GPU=<gpus>``; a run is submitted with ``resources={"run": 1}`` (plus ``{"GPU": 1}``
when it needs one). On a ``local`` cluster ``GPU`` is only declared: every worker sees the same
devices.

**Worker setup**: :class:`WorkerSetup` (registered by :func:`open_client`) sets
``TF_CPP_MIN_LOG_LEVEL=2`` when unset and compiles librosa's numba kernels under a file lock before
the worker runs anything (:func:`idsd.features.warm_numba_cache`); records of the ``idsd`` logger
on the workers are forwarded to the driver's ``idsd`` logger.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from idsd.errors import InputError

log = logging.getLogger(__name__)

KINDS = ("local", "pbs", "slurm", "address")
SETUP_PLUGIN = "idsd-setup"
LOCK_NAME = "idsd-numba-warm.lock"


@dataclass(frozen=True)
class ClusterConfig:
    """Where the study's runs go: the ``cluster:`` mapping of a study configuration, checked.

    Parameters
    ----------
    kind : {"local", "pbs", "slurm", "address"}
        ``local``: worker processes on this machine (``distributed.LocalCluster``); ``pbs`` /
        ``slurm``: one batch job per worker (``dask_jobqueue``); ``address``: a running scheduler.
    workers : int
        ``local``: worker processes; ``pbs`` / ``slurm``: jobs (``cluster.scale(jobs=workers)``);
        ``address``: unused (the scheduler has the workers it has).
    cores : int
        Threads per worker (``local``) or cores per job (one worker process per job).
    memory : str or None
        Memory per worker or job, anything :func:`dask.utils.parse_bytes` reads (``"8GiB"``); a
        worker near it pauses, and one over it is restarted. Required for pbs / slurm; None for
        ``local``: the machine's memory shared between the workers.
    gpus : int
        GPUs per worker or job (0: none). The batch job asks for them (Slurm ``--gres=gpu:N``,
        PBS ``ngpus=N`` in ``select``) unless ``job_extra`` already does.
    walltime : str
        Job time limit (``"HH:MM:SS"``), ``pbs`` / ``slurm`` only.
    queue, account : str or None
        PBS queue or Slurm partition; the account (project) charged. None: the scheduler's or
        Dask's own configuration (``jobqueue.yaml``) decides.
    address : str or None
        ``kind: address`` only: the scheduler, e.g. ``"tcp://host:8786"``.
    prologue : tuple of str
        Shell lines a job runs before its worker starts (``module load cuda/12.4``,
        ``source $HOME/idsd/.venv/bin/activate``): dask-jobqueue's ``job_script_prologue``.
    job_extra : tuple of str
        Extra scheduler directives (``"--constraint=a100"``, ``"-l place=excl"``):
        dask-jobqueue's ``job_extra_directives``.
    local_directory, log_directory : str or None
        The workers' scratch folder (node-local disk is best); the folder the jobs' stdout and
        stderr go to.
    interface : str or None
        Network interface the workers and scheduler talk on (``"ib0"``), where the default
        one is not routable between nodes.
    """

    kind: str = "local"
    workers: int = 1
    cores: int = 1
    memory: str | None = None
    gpus: int = 0
    walltime: str = "01:00:00"
    queue: str | None = None
    account: str | None = None
    address: str | None = None
    prologue: tuple[str, ...] = ()
    job_extra: tuple[str, ...] = ()
    local_directory: str | None = None
    log_directory: str | None = None
    interface: str | None = None

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None, where: str = "cluster") -> ClusterConfig | None:
        """The configuration of the ``cluster:`` mapping; None for ``None`` or ``{}`` (in-process, no Dask).

        Parameters
        ----------
        mapping : mapping or None
            The YAML mapping (keys as the fields of this class; ``kind`` defaults to ``local``).
        where : str
            Prefix of the key names in error messages (``cluster.workers``).

        Raises
        ------
        InputError
            An unknown key or kind, a value of the wrong type, ``workers`` or ``cores`` below 1,
            ``gpus`` below 0, ``memory`` that :func:`dask.utils.parse_bytes` cannot read (or none
            for pbs / slurm), or ``kind: address`` without ``address`` (or ``address`` with another
            kind).
        """
        if mapping is None:
            return None
        if isinstance(mapping, ClusterConfig):
            return mapping
        if not isinstance(mapping, Mapping):
            raise InputError(where, "must be a mapping (kind, workers, cores, ...), "
                                    f"not {type(mapping).__name__}")
        if not mapping:
            return None
        names = [f.name for f in fields(cls)]
        values: dict[str, Any] = {}
        for key, value in mapping.items():
            if key not in names:
                raise InputError(f"{where}.{key}", f"unknown key (known: {', '.join(names)})")
            if value is not None:  # null: the default
                values[key] = _check(f"{where}.{key}", key, value)
        kind = values.get("kind", cls.kind)
        if kind not in KINDS:
            raise InputError(f"{where}.kind", f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
        if kind == "address" and not values.get("address"):
            raise InputError(f"{where}.address", "kind address needs the scheduler's address (tcp://host:8786)")
        if kind in ("pbs", "slurm") and not values.get("memory"):
            raise InputError(f"{where}.memory", f"kind {kind} needs the memory per job (e.g. 64GiB)")
        if kind != "address" and values.get("address"):
            raise InputError(f"{where}.address", f"only used with kind address (kind is {kind})")
        return cls(**values)

    def resources(self) -> dict[str, int]:
        """The resources every worker declares: ``{"run": 1}``, plus ``{"GPU": gpus}`` when ``gpus > 0``."""
        return {"run": 1, **({"GPU": self.gpus} if self.gpus else {})}


def _check(name: str, key: str, value: Any) -> Any:
    """``value`` of field ``key`` checked (and lists made tuples); InputError naming ``name`` otherwise."""
    if key in ("workers", "cores", "gpus"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise InputError(name, f"must be an integer, got {value!r}")
        low = 0 if key == "gpus" else 1
        if value < low:
            raise InputError(name, f"must be {'>= 0' if low == 0 else 'a positive integer'}, got {value}")
        return value
    if key in ("prologue", "job_extra"):
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise InputError(name, f"must be a list of strings (one line each), got {value!r}")
        if any("\n" in v for v in value):
            raise InputError(name, "one line per list item (an item holds a newline)")
        return tuple(value)
    if not isinstance(value, str) or not value.strip():
        raise InputError(name, f"must be a non-empty string, got {value!r}")
    if key == "memory":
        from dask.utils import parse_bytes

        try:
            ok = parse_bytes(value) > 0
        except (ValueError, TypeError):
            ok = False
        if not ok:
            raise InputError(name, f"{value!r} is not an amount of memory (e.g. 8GiB, 64GB, 512MiB)")
    return value


def as_config(cluster: ClusterConfig | Mapping[str, Any] | None) -> ClusterConfig | None:
    """``cluster`` as a :class:`ClusterConfig` (a mapping is checked); None for None or ``{}``."""
    return ClusterConfig.from_mapping(cluster)


# --------------------------------------------------------------------------- worker setup

def numba_lock_file() -> Path:
    """The lock file that serializes numba compilation between processes sharing librosa's cache.

    In ``NUMBA_CACHE_DIR`` when set, else beside librosa's own cache (``librosa/__pycache__``:
    shared by every node that runs the same environment), else in the temporary folder.
    """
    folders = [Path(os.environ["NUMBA_CACHE_DIR"])] if os.environ.get("NUMBA_CACHE_DIR") else []
    spec = importlib.util.find_spec("librosa")
    if spec is not None and spec.origin:
        folders.append(Path(spec.origin).parent / "__pycache__")
    folders.append(Path(tempfile.gettempdir()))
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / LOCK_NAME
            path.touch(exist_ok=True)
            return path
        except OSError:
            continue
    raise OSError(f"no writable folder for {LOCK_NAME} among {', '.join(map(str, folders))}")


_WARMED: list[str] = []  # the features warmed in this process (empty: not yet)


def warm_numba_cache_locked() -> list[str]:
    """:func:`idsd.features.warm_numba_cache` under an exclusive ``flock`` on :func:`numba_lock_file`.

    The first process compiles and writes the cache; the others wait, then load it. Once per
    process: the kernels it has loaded stay loaded, and the cache it found or wrote stays on disk.
    """
    import fcntl

    if _WARMED:
        return list(_WARMED)
    with open(numba_lock_file(), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            # librosa compiles its kernels when imported without a cache: the import is under the lock too
            from idsd.features import warm_numba_cache

            _WARMED[:] = warm_numba_cache()
            return list(_WARMED)
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class WorkerSetup:
    """What a worker does before the study's runs: the ``setup`` of the ``distributed.WorkerPlugin``
    that :func:`worker_setup_plugin` returns.

    ``setup`` sets ``TF_CPP_MIN_LOG_LEVEL=2`` and ``IDSD_THREADS=1`` (:func:`idsd.features.n_threads`)
    when unset, lets the ``idsd`` logger handle INFO
    records (the forwarded ones reach the driver only if the worker handles them) and compiles
    librosa's numba kernels under a file lock (:func:`warm_numba_cache_locked`).
    """

    async def setup(self, worker) -> None:
        import asyncio

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        # a worker runs one extraction task per thread (threads = the job's cores): each task's
        # feature code stays on one thread instead of starting one per core of the node
        os.environ.setdefault("IDSD_THREADS", "1")
        logger = logging.getLogger("idsd")
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)
        # compiling takes seconds to a minute: off the worker's event loop, which keeps its heartbeats
        await asyncio.to_thread(warm_numba_cache_locked)


@functools.cache
def _plugin_class() -> type:
    # built on first use so that importing this module imports no Dask; pickled by reference
    # (idsd.cluster.WorkerSetupPlugin, resolved by the module's __getattr__ on the worker)
    from distributed import WorkerPlugin

    return type("WorkerSetupPlugin", (WorkerSetup, WorkerPlugin), {"__module__": __name__})


def __getattr__(name: str):
    if name == "WorkerSetupPlugin":
        return _plugin_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def worker_setup_plugin():
    """A ``distributed.WorkerPlugin`` that runs :meth:`WorkerSetup.setup` on every worker, present and
    future."""
    return _plugin_class()()


# --------------------------------------------------------------------------- clusters and clients

def _jobqueue_kwargs(cfg: ClusterConfig) -> dict[str, Any]:
    """Keyword arguments of ``PBSCluster`` / ``SLURMCluster`` for ``cfg`` (one worker process per job)."""
    resources = ",".join(f"{k}={v}" for k, v in cfg.resources().items())
    directives = list(cfg.job_extra)
    kw: dict[str, Any] = dict(
        cores=cfg.cores, memory=cfg.memory, processes=1, walltime=cfg.walltime, queue=cfg.queue,
        account=cfg.account, worker_extra_args=["--resources", resources],
        local_directory=cfg.local_directory, log_directory=cfg.log_directory, interface=cfg.interface)
    # the job asks for the GPUs itself unless a directive of the user's already does (--gres, ngpus=)
    if cfg.kind == "slurm":
        asks_gpus = any(d.lstrip().startswith(("--gres", "--gpus", "-G")) for d in directives)
    else:
        asks_gpus = any("gpus=" in d for d in directives)
    if cfg.gpus and not asks_gpus:
        if cfg.kind == "slurm":
            directives.append(f"--gres=gpu:{cfg.gpus}")
        else:
            from dask.utils import parse_bytes
            from dask_jobqueue.pbs import pbs_format_bytes_ceil

            kw["resource_spec"] = (f"select=1:ncpus={cfg.cores}:ngpus={cfg.gpus}"
                                   f":mem={pbs_format_bytes_ceil(parse_bytes(cfg.memory))}")
    # None (not []): Dask's own jobqueue configuration still applies where the study sets nothing
    kw["job_script_prologue"] = list(cfg.prologue) or None
    kw["job_extra_directives"] = directives or None
    return kw


def _jobqueue_class(kind: str):
    if kind == "pbs":
        from dask_jobqueue import PBSCluster

        return PBSCluster
    from dask_jobqueue import SLURMCluster

    return SLURMCluster


def start_cluster(cfg: ClusterConfig):
    """The Dask cluster object of ``cfg`` (None for ``kind: address``); batch jobs are submitted here.

    ``local``: ``distributed.LocalCluster`` of ``workers`` processes, after compiling librosa's
    numba kernels once in this process (workers starting together would race to compile them).
    ``pbs`` / ``slurm``: a ``dask_jobqueue`` cluster scaled to ``workers`` jobs.
    """
    if cfg.kind == "address":
        return None
    if cfg.kind == "local":
        warm_numba_cache_locked()
        from distributed import LocalCluster

        extra = {k: v for k, v in (("local_directory", cfg.local_directory), ("interface", cfg.interface))
                 if v}
        return LocalCluster(n_workers=cfg.workers, threads_per_worker=cfg.cores,
                            memory_limit=cfg.memory or "auto", processes=True,
                            resources=cfg.resources(), **extra)
    cluster = _jobqueue_class(cfg.kind)(**_jobqueue_kwargs(cfg))
    try:
        cluster.scale(jobs=cfg.workers)
    except BaseException:
        cluster.close()
        raise
    return cluster


def get_client(cluster: ClusterConfig | Mapping[str, Any] | None):
    """``(client, close)`` for ``cluster``: ``(None, no-op)`` in-process; else a ``distributed.Client``
    with the worker setup registered, and ``close()`` shuts client and cluster down.

    Prefer :func:`open_client` (a context manager) where the code allows one.
    """
    cfg = as_config(cluster)
    if cfg is None:
        return None, lambda: None
    from distributed import Client

    dask_cluster = start_cluster(cfg)
    client = None
    try:
        client = Client(cfg.address) if dask_cluster is None else Client(dask_cluster)
        client.register_plugin(worker_setup_plugin(), name=SETUP_PLUGIN)
        client.forward_logging("idsd", level=logging.INFO)
    except BaseException:
        _close(client, dask_cluster)
        raise

    def close() -> None:
        _close(client, dask_cluster)

    log.info("Dask cluster %s: %s", cfg.kind, client.scheduler.address)
    return client, close


def _close(client, dask_cluster) -> None:
    try:
        if client is not None:
            client.close()
    finally:
        if dask_cluster is not None:
            dask_cluster.close()


@contextlib.contextmanager
def open_client(cluster: ClusterConfig | Mapping[str, Any] | None) -> Iterator[Any]:
    """A ``distributed.Client`` for the study's ``cluster:`` configuration, closed (with its cluster) on exit.

    Parameters
    ----------
    cluster : ClusterConfig, mapping or None
        None or ``{}``: yields None and imports nothing from Dask (the study runs in-process).

    Yields
    ------
    distributed.Client or None
        Its workers declare the resources of :meth:`ClusterConfig.resources` and run
        :class:`WorkerSetup`. Batch workers (pbs / slurm) join as their jobs start: use
        ``client.wait_for_workers(n, timeout)`` where a run needs them now.
    """
    client, close = get_client(cluster)
    try:
        yield client
    finally:
        close()


def job_script(config: ClusterConfig | Mapping[str, Any] | None) -> str:
    """The batch script dask-jobqueue submits per job for a ``pbs`` or ``slurm`` configuration.

    Nothing is submitted (a jobqueue cluster submits jobs only when scaled); the scheduler address
    in the script is that of a scheduler started and stopped for the occasion.

    Raises
    ------
    InputError
        ``config`` is not a pbs or slurm configuration.
    """
    cfg = as_config(config)
    if cfg is None or cfg.kind not in ("pbs", "slurm"):
        kind = cfg.kind if cfg else "none"
        raise InputError("cluster.kind", f"a job script needs kind pbs or slurm, not {kind}")
    import dask

    cls = _jobqueue_class(cfg.kind)
    site = f"jobqueue.{cls.job_cls.default_config_name()}.scheduler-options"
    options = dict(dask.config.get(site, {}) or {})
    options["dashboard_address"] = ":0"  # a throwaway scheduler: any free port, not 8787
    with cls(**_jobqueue_kwargs(cfg), scheduler_options=options) as cluster:
        return cluster.job_script()


# --------------------------------------------------------------------------- what the client sees

def cluster_info(client) -> dict[str, Any]:
    """What the scheduler reports about its workers.

    Returns
    -------
    dict
        ``scheduler`` (address), ``dashboard`` (link or None), ``workers`` (count), ``threads``
        (total), ``threads_per_worker`` (sorted distinct values), ``memory`` (bytes, total),
        ``memory_per_worker`` (sorted distinct values), ``gpus`` (the workers' ``GPU`` resources
        summed), ``resources`` (every resource summed) and ``per_worker`` (one dict per worker:
        ``address``, ``name``, ``host``, ``threads``, ``memory``, ``resources``).
    """
    info = client.scheduler_info(n_workers=-1)
    per_worker = [
        {"address": addr, "name": str(w.get("name", addr)), "host": w.get("host", ""),
         "threads": int(w.get("nthreads", 0)), "memory": int(w.get("memory_limit") or 0),
         "resources": dict(w.get("resources") or {})}
        for addr, w in info.get("workers", {}).items()]
    per_worker.sort(key=lambda w: (len(w["name"]), w["name"], w["address"]))  # worker 2 before worker 10
    totals: dict[str, float] = {}
    for w in per_worker:
        for k, v in w["resources"].items():
            totals[k] = totals.get(k, 0) + v
    try:
        dashboard = client.dashboard_link
    except (KeyError, AttributeError):  # a scheduler without the dashboard (bokeh not installed)
        dashboard = None
    return {
        "scheduler": info.get("address", ""),
        "dashboard": dashboard if info.get("services", {}).get("dashboard") else None,
        "workers": len(per_worker),
        "threads": sum(w["threads"] for w in per_worker),
        "threads_per_worker": sorted({w["threads"] for w in per_worker}),
        "memory": sum(w["memory"] for w in per_worker),
        "memory_per_worker": sorted({w["memory"] for w in per_worker}),
        "gpus": int(totals.get("GPU", 0)),
        "resources": {k: (int(v) if float(v).is_integer() else v) for k, v in sorted(totals.items())},
        "per_worker": per_worker,
    }


def _bytes(n: int) -> str:
    from dask.utils import format_bytes

    return format_bytes(n) if n else "no limit"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _per(values: list) -> str:
    return "/".join(str(v) for v in values) if values else "0"


def describe(info: Mapping[str, Any], max_workers: int = 20) -> str:
    """:func:`cluster_info` as lines of text: the scheduler, the totals, then one line per worker."""
    dashboard = f" (dashboard {info['dashboard']})" if info.get("dashboard") else ""
    lines = [f"scheduler {info['scheduler']}{dashboard}"]
    n = info["workers"]
    mem = "/".join(_bytes(m) for m in info["memory_per_worker"]) or "0"
    threads = f"{_n(info['threads'], 'thread')} ({_per(info['threads_per_worker'])} per worker)"
    lines.append(f"{_n(n, 'worker')}, {threads}, memory {_bytes(info['memory'])} ({mem} per worker), "
                 f"{_n(info['gpus'], 'GPU')}")
    for w in info["per_worker"][:max_workers]:
        res = ", ".join(f"{k}={v:g}" for k, v in sorted(w["resources"].items())) or "none"
        lines.append(f"  worker {w['name']} at {w['address']}: {_n(w['threads'], 'thread')}, "
                     f"{_bytes(w['memory'])}, resources {res}")
    if n > max_workers:
        lines.append(f"  ... and {n - max_workers} more")
    return "\n".join(lines)
