"""``idsd cluster check [--config FILE] [--script]``: the Dask cluster of a study configuration.

``check`` reads the ``cluster:`` mapping of the configuration (default ``configs/default.yaml``),
starts that cluster (pbs / slurm: submits its jobs), waits for its workers and prints what the
scheduler sees: workers, threads, memory, GPUs, the resources each worker declares. ``--script``
prints the batch script of a pbs / slurm configuration and submits nothing. Without ``cluster:``
it says that the study runs in-process, without Dask. Exit status 1 when fewer workers than
configured joined within ``--timeout``.
"""

from __future__ import annotations

import logging


def register(subparsers, groups) -> None:
    p = groups["cluster"].add_parser(
        "check", help="start the configuration's Dask cluster, print its workers (--script: its job script)",
        description="Start the Dask cluster of a study configuration's cluster: mapping (local workers, "
                    "PBS or Slurm jobs, or a scheduler address), wait for its workers and print what the "
                    "scheduler sees. PBS and Slurm jobs are submitted (and cancelled on exit); --script "
                    "prints the job script instead and submits nothing.")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="study configuration (default configs/default.yaml)")
    p.add_argument("--script", action="store_true",
                   help="print the batch job script of a pbs/slurm cluster; start nothing")
    p.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS",
                   help="how long to wait for the workers (default 300; batch jobs may queue longer)")
    p.set_defaults(func=run)


def run(args) -> int:
    from idsd.cluster import ClusterConfig, cluster_info, describe, job_script, open_client
    from idsd.errors import InputError
    from idsd.paths import ROOT
    from idsd.stage import load_config
    from idsd.validate import input_file

    path = input_file(args.config or ROOT / "configs" / "default.yaml", "study configuration")
    cfg = ClusterConfig.from_mapping(load_config(path).get("cluster"))
    if cfg is not None:
        import distributed  # noqa: F401 - its import sets its loggers' levels, which the next line overrides

        if not args.verbose:  # the scheduler's and workers' start-up chatter
            logging.getLogger("distributed").setLevel(logging.WARNING)
    if args.script:
        if cfg is None or cfg.kind not in ("pbs", "slurm"):
            what = (f"cluster kind {cfg.kind}" if cfg is not None
                    else "no cluster configured (the study runs in-process)")
            raise InputError(path, f"{what}: only kinds pbs and slurm have a job script")
        print(job_script(cfg), end="")
        return 0
    if cfg is None:
        print(f"{path}: no cluster configured: the study runs in-process, without Dask")
        return 0
    if cfg.kind == "address":
        print(f"{path}: cluster kind address: scheduler {cfg.address}")
    else:
        memory = cfg.memory or "a share of the memory"
        each = f"{_n(cfg.cores, 'core')}, {memory}, {_n(cfg.gpus, 'GPU')}"
        print(f"{path}: cluster kind {cfg.kind}: {_n(cfg.workers, 'worker')} of {each} each")
    expected = 1 if cfg.kind == "address" else cfg.workers
    with open_client(cfg) as client:
        try:
            client.wait_for_workers(expected, timeout=args.timeout)
            short = False
        except TimeoutError:
            short = True
        info = cluster_info(client)
        print(describe(info))
        if short:
            print(f"only {info['workers']} of {expected} workers joined within {args.timeout:g} s"
                  + (" (jobs still queued? qstat / squeue)" if cfg.kind in ("pbs", "slurm") else ""))
            return 1
    return 0


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
