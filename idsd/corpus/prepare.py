"""Turn the embedded suite or real corpora into the study: manifests + ``study.json``.

``prepare_study(outputs)`` builds (or reuses) the embedded suite under ``<outputs>/data/corpora``,
reads every corpus with the FoR adapter into ``<outputs>/manifests/<corpus>.csv`` (+
``<corpus>.rejected.csv``), makes the modified-speech set from the evaluation split of
``mini-for`` (as upstream modified FoR for-2sec's validation split) and writes
``<outputs>/manifests/study.json``. With ``data_root`` it looks for real corpora there instead.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from idsd.corpus.build import CORPORA, PAPER_NAMES, build_suite
from idsd.datasets import build_manifest, default_name, detect_layout, write_manifest
from idsd.paths import Outputs
from idsd.study import CorpusEntry, Study

log = logging.getLogger(__name__)

REAL_PAPER_NAMES = {"for-2sec": "F2S", "for-rerec": "FREC", "asvspoof2019": "AS19", "wavefake": "WF",
                    "fakeavceleb": "AVC", "asvspoof2021": "AS21", "for-norm": "FNORM", "for-original": "FORIG",
                    "inthewild": "ITW", "asvspoof5": "AS5", "mlaad": "MLAAD"}
"""Table label of each real corpus: the paper's abbreviation (F2S ... AS21, docs/paper.md section 7),
and for the corpora the field evaluates on since (In-the-Wild, ASVspoof 5, MLAAD) the usual one."""
TRAIN_CORPORA = ("for-2sec", "for-rerec", "asvspoof2019", "wavefake")
"""The paper's four training corpora; every other corpus found is an evaluation-only column."""
QUICK_REAL_FILES = 48  # files per split and class kept from a real corpus when quick and real_files is not given
QUICK_MODIFY = 6  # files per class modified when quick and modify_limit is not given


def _write(outputs: Outputs, name: str, manifest: pd.DataFrame, rejected: pd.DataFrame) -> str:
    rel = f"manifests/{name}.csv"
    write_manifest(manifest, rejected, outputs.base / rel, outputs.manifests / f"{name}.rejected.csv")
    return rel


def find_corpora(data_root: str | os.PathLike) -> dict[str, tuple[str, str]]:
    """Real corpora under ``data_root`` (the folder itself or its subfolders).

    Returns
    -------
    dict
        corpus name -> (root, layout), e.g. ``{"for-2sec": ("/data/for-2seconds", "for")}``.
    """
    data_root = os.fspath(data_root)
    if not os.path.isdir(data_root):
        raise FileNotFoundError(f"data_root {data_root} is not a folder")
    candidates = [data_root] + [os.path.join(data_root, d) for d in sorted(os.listdir(data_root))
                                if os.path.isdir(os.path.join(data_root, d)) and not d.startswith(".")]
    found: dict[str, tuple[str, str]] = {}
    for c in candidates:
        try:
            layout = detect_layout(c)
        except FileNotFoundError:
            continue
        if layout == "folder" and c == data_root and len(candidates) > 1:
            continue
        found.setdefault(default_name(c, layout), (c, layout))
        if c == data_root and layout != "folder":
            break  # data_root is itself one corpus
    if not found:
        raise FileNotFoundError(f"no known corpus layout under {data_root} (see README: FoR, ASVspoof 2019 LA, "
                                "ASVspoof 2021 DF, ASVspoof 5, WaveFake, In-the-Wild, MLAAD, FakeAVCeleb, or "
                                "real/ + fake/ folders)")
    return found


def _quick_subset(manifest: pd.DataFrame, n_files: int, seed: int) -> pd.DataFrame:
    files = manifest.drop_duplicates("path")[["path", "split", "label"]]
    keep = files.sample(frac=1.0, random_state=seed).groupby(["split", "label"]).head(n_files)
    return manifest[manifest.path.isin(set(keep.path))].reset_index(drop=True)


def prepare_study(outputs: Outputs | str | os.PathLike, data_root: str | os.PathLike | None = None,
                  quick: bool = False, seed: int = 0, preset: str | None = None, modify: bool = True,
                  modify_limit: int | None = None, real_files: int | None = None, progress: bool = True) -> Study:
    """Build or locate the corpora, write their manifests and the study index.

    Parameters
    ----------
    outputs : Outputs or path
    data_root : path, optional
        Folder with real corpora in their published layouts; empty/None builds the embedded suite.
    quick : bool
        Smoke scale, recorded in ``study.json`` (captions say so); without ``preset``,
        ``real_files`` and ``modify_limit`` it also means the ``tiny`` suite,
        :data:`QUICK_REAL_FILES` and :data:`QUICK_MODIFY`.
    seed : int
    preset : str, optional
        Embedded preset (default ``tiny`` when quick else ``default``).
    modify : bool
        Make the modified-speech set.
    modify_limit : int, optional
        Files per class to modify (default: all; ``QUICK_MODIFY`` when quick).
    real_files : int, optional
        Files per split and class kept from each real corpus, drawn with ``seed`` (default: all;
        ``QUICK_REAL_FILES`` when quick): a sample of a corpus too large for the machine at hand.
    progress : bool

    Returns
    -------
    Study
        Also saved to ``<outputs>/manifests/study.json``.
    """
    from idsd.perturb import modified_manifest, modify_split

    outputs = outputs if isinstance(outputs, Outputs) else Outputs(outputs)
    outputs.make()
    limit = modify_limit if modify_limit is not None else (QUICK_MODIFY if quick else None)
    keep = real_files if real_files is not None else (QUICK_REAL_FILES if quick else None)
    entries: list[CorpusEntry] = []
    manifests: dict[str, pd.DataFrame] = {}
    modified_rel = modified_base = None
    if data_root:
        found = find_corpora(data_root)
        for name, (root, layout) in found.items():
            m, rej = build_manifest(root, layout=layout, dataset=name, progress=progress)
            if keep:
                m = _quick_subset(m, keep, seed)
            manifests[name] = m
            entries.append(CorpusEntry(name, _write(outputs, name, m, rej), train=name in TRAIN_CORPORA and
                                       m.split.nunique() >= 2, paper_name=REAL_PAPER_NAMES.get(name, name)))
        if not any(e.train for e in entries):
            for e in entries:  # e.g. only generic folders: train on whatever has a train split
                e.train = bool((manifests[e.name].split == "train").any())
        base_name = "for-2sec" if "for-2sec" in found else None
        base_dir = Path(found[base_name][0]) / "validation" if base_name else None
        lc = "wavefake" if "wavefake" in found else next((e.name for e in entries if e.train), None)
        source = "real"
    else:
        roots = build_suite(outputs.data / "corpora", preset or ("tiny" if quick else "default"), seed=seed,
                            progress=progress)
        for name in CORPORA:
            m, rej = build_manifest(roots[name], layout="for", dataset=name, progress=progress)
            manifests[name] = m
            entries.append(CorpusEntry(name, _write(outputs, name, m, rej), True, PAPER_NAMES[name]))
        base_name, base_dir, lc, source = "mini-for", roots["mini-for"] / "validation", "mini-wavefake", "embedded"
    if modify and base_name and base_dir is not None and base_dir.is_dir():
        out_dir = outputs.data / "modified" / base_name
        modify_split(base_dir, out_dir, seed=seed, limit=limit, progress=progress)
        m, rej = modified_manifest(out_dir, manifests[base_name], progress=progress)
        modified_rel, modified_base = _write(outputs, "modified", m, rej), base_name
    study = Study(source=source, corpora=entries, modified_manifest=modified_rel, modified_base=modified_base,
                  learning_curve_corpus=lc, quick=quick)
    study.save(outputs)
    log.info("study: %s corpora %s, modified=%s, learning curve on %s", source, [e.name for e in entries],
             modified_rel, lc)
    return study
