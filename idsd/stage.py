"""Notebook stages of ``run_all.sh``: run one with papermill, and decide whether it must run again.

``python -m idsd.stage NOTEBOOK OUTPUT_NOTEBOOK LOG TIMINGS_CSV -- [papermill options]`` is what
``run_all.sh`` calls per stage. The papermill process and its kernel run as a child process; after
it ends, ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` gives the peak resident memory of the largest
process of that tree (the kernel, in practice), which is appended with the wall time to
``TIMINGS_CSV`` (columns ``stage, status, seconds, peak_rss_mib, finished``). Exit status is
papermill's. A study configuration passed as ``-f FILE`` (``configs/*.yaml``, a flat mapping of
notebook parameters; ``cluster``, where the runs go, is its one mapping: :mod:`idsd.cluster`) is
narrowed to the parameters this notebook declares and handed to papermill as ``-y``, so the
executed notebook shows only its own parameters and papermill warns about none.

The stage hash (``python -m idsd.stage hash NOTEBOOK [--previous H] [--config FILE]
[--set KEY=VALUE ...] [--env NAME ...]``, printed as 16 hex digits) covers what can change a
stage's result: the notebook file, the effective values of the notebook's own parameters (from the
configuration file and the ``--set`` overrides that ``run_all.sh`` passes with ``-r``; not
``cluster``: where a stage runs does not change its result), the
package modules the notebook imports (followed transitively through ``idsd``'s own source files,
subpackages' ``__init__.py`` included), ``requirements.txt``, the named environment variables
(``KERAS_BACKEND``) and the previous stage's hash. Editing a module that the notebook does not
import, or a configuration key that is not one of its parameters, leaves the hash alone.

Other commands: ``params NOTEBOOK`` prints the notebook's parameter names, one a line;
``check-config FILE NOTEBOOK...`` fails when the file is not a flat mapping or names a key that no
notebook declares; ``record PATH --config FILE --commit C --dirty true|false`` writes ``run.json``
(which code and which configuration produced the outputs).
"""

from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

FIELDS = ("stage", "status", "seconds", "peak_rss_mib", "finished")
MAPPING_KEYS = frozenset({"cluster"})
"""The parameters that are mappings (:mod:`idsd.cluster`); every other one is flat."""
NOT_HASHED = frozenset({"cluster"})
"""Parameters that say where a stage runs, not what it computes: left out of the stage hash, so the
same study run on a cluster and locally re-uses each other's stages."""
ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "idsd"


# --------------------------------------------------------------------------- notebooks and parameters

def _cells(notebook: str | os.PathLike) -> list[dict]:
    return json.loads(Path(notebook).read_text(encoding="utf-8")).get("cells", [])


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _python(src: str) -> str:
    """Cell source with IPython magics and shell escapes (``%...``, ``!...``) blanked out."""
    lines = []
    for line in src.splitlines():
        stripped = line.lstrip()
        lines.append(line[: len(line) - len(stripped)] + "pass" if stripped[:1] in ("%", "!") else line)
    return "\n".join(lines)


def parameters_source(notebook: str | os.PathLike) -> str | None:
    """Source of the cell tagged ``parameters`` (papermill's), or None when there is none."""
    for cell in _cells(notebook):
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return _source(cell)
    return None


def notebook_parameters(notebook: str | os.PathLike) -> dict[str, object]:
    """The parameters a notebook declares and their defaults, in order.

    Every top-level ``name = value`` or ``name: type = value`` of the cell tagged ``parameters``;
    a default is the Python literal (``ast.literal_eval``), or its source text when it is not a literal.
    """
    src = parameters_source(notebook)
    if src is None:
        return {}
    params: dict[str, object] = {}
    for node in ast.parse(_python(src)).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            name, value = node.target.id, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, value = node.targets[0].id, node.value
        else:
            continue
        try:
            params[name] = ast.literal_eval(value)
        except ValueError:
            params[name] = ast.unparse(value)
    return params


# --------------------------------------------------------------------------- imported package modules

def module_file(dotted: str, root: Path | None = None) -> Path | None:
    """The source file of ``dotted`` (``idsd.x.y``) under ``root`` (default: this checkout):
    ``idsd/x/y.py`` or ``idsd/x/y/__init__.py``."""
    base = Path(root or ROOT, *dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(tree: ast.AST, current: str | None = None, is_package: bool = False) -> set[str]:
    """Dotted names of the package's modules (or candidates) that ``tree`` imports, anywhere in it."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name == PACKAGE or a.name.startswith(PACKAGE + "."))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if current is None:
                    continue
                parts = current.split(".") if is_package else current.split(".")[:-1]
                if node.level > 1:
                    parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base != PACKAGE and not base.startswith(PACKAGE + "."):
                continue
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names if a.name != "*")  # submodules, when they exist
    return names


def _with_parents(dotted: str) -> list[str]:
    parts = dotted.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def notebook_modules(notebook: str | os.PathLike, root: Path | None = None) -> list[Path]:
    """The package's source files a notebook imports, directly or through other package modules.

    Follows ``import idsd.x``, ``from idsd.x import y`` (``y`` counts when it is a submodule),
    ``from idsd import x`` and relative imports inside the package, function-level imports
    included; importing ``idsd.a.b`` also runs ``idsd/__init__.py`` and ``idsd/a/__init__.py``.
    Names that resolve to no file (a function, a module being removed) are ignored.

    Returns
    -------
    list of Path
        Sorted, under ``root`` (default: this checkout).
    """
    root = Path(root or ROOT)
    todo: list[str] = []
    for cell in _cells(notebook):
        if cell.get("cell_type") != "code":
            continue
        try:
            tree = ast.parse(_python(_source(cell)))
        except SyntaxError:
            continue  # a cell that does not parse cannot import either (it fails when run)
        todo += sorted(_imports(tree))
    seen: set[str] = set()
    files: dict[str, Path] = {}
    while todo:
        name = todo.pop()
        for dotted in _with_parents(name):
            if dotted in seen:
                continue
            seen.add(dotted)
            path = module_file(dotted, root)
            if path is None:
                continue
            files[dotted] = path
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError):
                continue
            todo += sorted(_imports(tree, dotted, path.name == "__init__.py") - seen)
    return sorted(files.values())


# --------------------------------------------------------------------------- configurations

def load_config(path: str | os.PathLike | None) -> dict[str, object]:
    """A study configuration: a flat YAML mapping of notebook parameters, read as papermill reads ``-f``.

    The one exception to flat is ``cluster``, a mapping checked by
    :meth:`idsd.cluster.ClusterConfig.from_mapping` (where the runs go, see :mod:`idsd.cluster`).

    Raises
    ------
    idsd.errors.InputError (a ValueError)
        The file is not a mapping, a value other than ``cluster`` is a mapping (parameters are
        flat), or ``cluster`` is not a valid cluster configuration; the message names the file.
    """
    if not path:
        return {}
    import yaml

    from idsd.errors import InputError

    class _NoDates(yaml.SafeLoader):  # papermill's loader: dates stay strings
        pass

    _NoDates.yaml_implicit_resolvers = {
        k: [r for r in v if r[0] != "tag:yaml.org,2002:timestamp"] for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    data = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_NoDates)  # noqa: S506 (a SafeLoader)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(path, f"a study configuration is a mapping of notebook parameters, not {type(data).__name__}")
    for key, value in data.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise InputError(path, f"{key!r} is not a parameter name")
        if key in MAPPING_KEYS:
            from idsd.cluster import ClusterConfig

            try:
                ClusterConfig.from_mapping(value, where=key)
            except InputError as exc:
                raise InputError(path, str(exc)) from None
        elif isinstance(value, dict):
            raise InputError(path, f"{key} is a mapping; parameters are flat (one value or a list each)")
    return data


def check_config(path: str | os.PathLike, notebooks: Iterable[str | os.PathLike]) -> list[str]:
    """Keys of the configuration that no notebook declares as a parameter (empty: the file is fine)."""
    config = load_config(path)
    known: set[str] = set()
    for nb in notebooks:
        known.update(notebook_parameters(nb))
    return [k for k in config if k not in known]


def stage_params(notebook: str | os.PathLike, config: Mapping[str, object] | None = None,
                 overrides: Mapping[str, object] | None = None, env: Mapping[str, str] | None = None) -> str:
    """The parameters text of a stage hash: the effective values of the notebook's own parameters.

    ``config`` values, then ``overrides`` (``-p``/``-r`` on the papermill command line) replace the
    notebook's defaults (which the notebook file itself covers); keys the notebook does not declare
    are left out, and so are those of :data:`NOT_HASHED` (``cluster``). ``env`` (e.g. ``KERAS_BACKEND``)
    is added as is.
    """
    names = set(notebook_parameters(notebook)) - NOT_HASHED
    effective = {k: v for k, v in (config or {}).items() if k in names}
    effective.update({k: v for k, v in (overrides or {}).items() if k in names})
    return json.dumps({"parameters": effective, "env": dict(env or {})}, sort_keys=True, default=str)


def stage_hash(notebook: str | os.PathLike, params_text: str, previous: str = "", root: Path | None = None) -> str:
    """16 hex digits over the notebook, ``params_text``, its package modules, requirements.txt and ``previous``
    (``root``: the checkout whose ``idsd/`` and ``requirements.txt`` count; default: this one)."""
    root = Path(root or ROOT)
    h = hashlib.sha256()

    def part(label: str, data: bytes) -> None:
        h.update(f"{label}\0{len(data)}\0".encode())
        h.update(data)

    part("notebook", Path(notebook).read_bytes())
    part("parameters", params_text.encode())
    for path in notebook_modules(notebook, root):
        part(path.relative_to(root).as_posix(), path.read_bytes())
    req = root / "requirements.txt"
    part("requirements.txt", req.read_bytes() if req.is_file() else b"")
    part("previous", previous.encode())
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------- running a stage

def narrow_config_args(notebook: str | os.PathLike, papermill_args: list[str]) -> list[str]:
    """Replace ``-f FILE`` / ``--parameters_file FILE`` with ``-y`` holding only the notebook's parameters."""
    names = set(notebook_parameters(notebook))
    if not names:
        return list(papermill_args)
    out: list[str] = []
    args = iter(papermill_args)
    for arg in args:
        if arg in ("-f", "--parameters_file"):
            path = next(args, None)
            if path is None:
                out.append(arg)
                break
            import yaml

            mine = {k: v for k, v in load_config(path).items() if k in names}
            if mine:
                out += ["-y", yaml.safe_dump(mine, sort_keys=False, default_flow_style=None)]
        else:
            out.append(arg)
    return out


def run_stage(notebook: str, output: str, log: str, timings: str, papermill_args: list[str]) -> int:
    """Execute ``notebook`` into ``output`` with papermill, logging to ``log``; return the exit status."""
    cmd = [sys.executable, "-m", "papermill", notebook, output, *narrow_config_args(notebook, papermill_args)]
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        status = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, check=False).returncode
    seconds = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB
    path = Path(timings)
    new = not path.is_file()
    with open(path, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(dict(stage=Path(notebook).stem, status="ok" if status == 0 else f"failed ({status})",
                             seconds=round(seconds, 1), peak_rss_mib=round(peak_mib, 1),
                             finished=datetime.now(UTC).isoformat(timespec="seconds")))
    return status


def write_run_record(path: str | os.PathLike, config: str = "", commit: str = "", dirty: bool = False) -> Path:
    """``run.json``: the commit (and whether the tree had uncommitted changes), the configuration file,
    its ``study_name`` and the start time; ``idsd.readme`` and the results page cite it."""
    study_name = load_config(config).get("study_name") if config else None
    record = {"commit": commit, "dirty": bool(dirty), "started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "config": config, "study_name": study_name or (Path(config).stem if config else "default")}
    target = Path(path)
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")  # as idsd.files does, without its imports
    tmp.write_text(json.dumps(record) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return target


# --------------------------------------------------------------------------- command line

def _keyvalue(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _commands(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m idsd.stage")
    sub = parser.add_subparsers(dest="command", required=True)
    h = sub.add_parser("hash", help="print the stage hash of a notebook")
    h.add_argument("notebook")
    h.add_argument("--previous", default="", help="the previous stage's hash")
    h.add_argument("--config", default="", help="study configuration (YAML) passed with -f")
    h.add_argument("--set", dest="overrides", action="append", type=_keyvalue, default=[], metavar="KEY=VALUE",
                   help="a parameter passed on the papermill command line (raw string)")
    h.add_argument("--env", action="append", default=[], metavar="NAME", help="an environment variable that counts")
    p = sub.add_parser("params", help="print the notebook's parameter names, one a line")
    p.add_argument("notebook")
    c = sub.add_parser("check-config", help="fail when the configuration names a key no notebook declares")
    c.add_argument("config")
    c.add_argument("notebooks", nargs="+")
    r = sub.add_parser("record", help="write run.json")
    r.add_argument("path")
    r.add_argument("--config", default="")
    r.add_argument("--commit", default="")
    r.add_argument("--dirty", choices=("true", "false"), default="false")
    args = parser.parse_args(argv)
    try:
        if args.command == "hash":
            params = stage_params(args.notebook, load_config(args.config), dict(args.overrides),
                                  {name: os.environ.get(name, "") for name in args.env})
            print(stage_hash(args.notebook, params, args.previous))
        elif args.command == "params":
            print("\n".join(notebook_parameters(args.notebook)))
        elif args.command == "check-config":
            unknown = check_config(args.config, args.notebooks)
            if unknown:
                print(f"{args.config}: no notebook has the parameter(s) {', '.join(unknown)}", file=sys.stderr)
                return 2
        else:
            write_run_record(args.path, args.config, args.commit, args.dirty == "true")
    except (OSError, ValueError, SyntaxError) as exc:
        print(f"python -m idsd.stage {args.command}: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("hash", "params", "check-config", "record"):
        return _commands(argv)
    if "--" not in argv or argv.index("--") != 4:
        print("usage: python -m idsd.stage NOTEBOOK OUTPUT LOG TIMINGS_CSV -- [papermill options]\n"
              "       python -m idsd.stage {hash,params,check-config,record} ... (see --help of each)", file=sys.stderr)
        return 2
    notebook, output, log, timings = argv[:4]
    os.makedirs(os.path.dirname(os.path.abspath(log)), exist_ok=True)
    return run_stage(notebook, output, log, timings, argv[5:])


if __name__ == "__main__":
    sys.exit(main())
