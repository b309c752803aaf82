"""Reference baselines scored on the detector's splits: LFCC-GMM and the trivial-statistics LR.

Both baselines are fitted on a corpus's ``train`` rows and score its ``dev`` and ``eval`` rows,
one score per manifest row (2-s fragment), higher = more real, so their rows can be appended to
the detector's score table as extra "features" (``feature = run = "lfcc-gmm"`` / ``"bands-lr"``).
``docs/baselines.md`` gives the parameters and their provenance.

LFCC-GMM
--------
The front end of the ASVspoof 2019 LFCC-GMM baseline (B01; the LFCC of Sahidullah, Kinnunen &
Hanilci, Interspeech 2015, as released in the ASVspoof 2019 baseline package): pre-emphasis
``1 - 0.97 z^-1``; 20 ms Hamming frames with a 10 ms shift (half-overlapping, the first frame at
sample 0, the last one zero-padded); 512-point FFT power spectrum; 20 triangular filters with
edges equally spaced on a linear frequency axis from 0 Hz to the Nyquist frequency; ``log10``
of the filter energies; orthonormal DCT-II, keeping all 20 coefficients (C0 included); delta and
delta-delta with the baseline's three-frame regression ``d[t] = c[t+1] - c[t-1]`` (edges
replicated; the baseline's ``deltas(x, 3)``, i.e. twice ``librosa.feature.delta(width=3)`` away
from the edges; the scale does not matter to a diagonal GMM). 60 dimensions per frame, 199
frames per 2-s clip.

The back end is two diagonal-covariance GMMs (bona fide and spoof) trained by EM on the frames
of the training clips; a clip's score is its mean per-frame log-likelihood ratio
``log p(x | bona) - log p(x | spoof)``. The challenge baseline used 512 components trained on
tens of thousands of utterances; with a few hundred training clips per class (~60 000 frames)
the default here is 64 components, fitted on at most ``max_frames`` = 20 000 frames per class
drawn at random (seeded): about 300 frames per 121-parameter component, so the variances are
well estimated, and one corpus fits in about 15 s (512 components would leave ~120 frames per
component of a 60 000-frame corpus and memorise the training clips).

bands-lr
--------
The shortcut audit's classifier (:mod:`idsd.audit`): a standardised, class-balanced logistic
regression on the ``bands`` statistics (file duration, level, peak, digital-zero fraction and the
32-band log-mel means), here used as a scoring baseline with P(real) scores.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from idsd import SAMPLE_RATE
from idsd.errors import AudioError
from idsd.progress import tqdm

log = logging.getLogger(__name__)

LFCC_PARAMS = dict(win_ms=20.0, hop_ms=10.0, n_fft=512, n_filters=20, n_ceps=20, preemph=0.97)
"""The ASVspoof 2019 baseline's LFCC settings (see the module docstring)."""

KINDS = ("lfcc-gmm", "bands-lr")
"""Baseline names, used as ``feature`` and ``run`` of their score rows."""


# --------------------------------------------------------------------------- LFCC


def _linear_filterbank(sr: int, n_fft: int, n_filters: int, fmin: float = 0.0,
                       fmax: float | None = None) -> np.ndarray:
    """Triangular filters on a linear frequency axis, shape (n_fft // 2 + 1, n_filters).

    Edges equally spaced from ``fmin`` to ``fmax`` (default ``sr / 2``); filter ``i`` rises from
    edge ``i`` to 1 at edge ``i + 1`` and falls to 0 at edge ``i + 2`` (MATLAB ``trimf``).
    """
    fmax = sr / 2 if fmax is None else fmax
    if not 0 <= fmin < fmax <= sr / 2:
        raise ValueError(f"need 0 <= fmin < fmax <= {sr / 2}, got {fmin}, {fmax}")
    f = np.linspace(0.0, sr / 2, n_fft // 2 + 1)
    edges = np.linspace(fmin, fmax, n_filters + 2)
    fb = np.zeros((f.size, n_filters))
    for i in range(n_filters):
        a, b, c = edges[i:i + 3]
        fb[:, i] = np.clip(np.minimum((f - a) / (b - a), (c - f) / (c - b)), 0.0, None)
    return fb


def _deltas(x: np.ndarray) -> np.ndarray:
    """Three-frame regression ``x[t+1] - x[t-1]`` along axis 0, edges replicated; shape kept."""
    p = np.concatenate([x[:1], x, x[-1:]], axis=0)
    return p[2:] - p[:-2]


def lfcc(y: np.ndarray, sr: int = SAMPLE_RATE, win_ms: float = 20.0, hop_ms: float = 10.0, n_fft: int = 512,
         n_filters: int = 20, n_ceps: int = 20, preemph: float = 0.97, deltas: bool = True,
         fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Linear-frequency cepstral coefficients with deltas, as in the ASVspoof 2019 LFCC-GMM baseline.

    Parameters
    ----------
    y : numpy.ndarray, shape (n,)
        Mono audio (2-s fragment: n = 32000 at 16 kHz).
    sr : int
        Sample rate in Hz.
    win_ms, hop_ms : float
        Hamming frame length and shift (baseline: 20 ms, 10 ms).
    n_fft : int
        FFT size (baseline: 512).
    n_filters : int
        Linear triangular filters between 0 Hz and ``sr / 2`` (baseline: 20).
    n_ceps : int
        Cepstral coefficients kept, C0 included (baseline: 20).
    preemph : float
        Pre-emphasis coefficient (baseline: 0.97; 0 disables).
    deltas : bool
        Append delta and delta-delta (baseline: yes).
    fmin, fmax : float
        Band covered by the filters (baseline: 0 Hz to ``sr / 2``). The ASVspoof 2021 LA
        package's high-resolution variant is ``win_ms=30, hop_ms=15, n_fft=1024, n_filters=70,
        fmax=4000`` (see ``docs/baselines.md``).

    Returns
    -------
    numpy.ndarray, shape (n_frames, 3 * n_ceps) (or (n_frames, n_ceps) without deltas), float32
        ``n_frames = ceil((n - hop) / hop)`` (199 for a 2-s clip at 16 kHz), columns static,
        delta, delta-delta.
    """
    from scipy.fft import dct

    y = np.asarray(y, dtype=np.float64).reshape(-1)
    win = int(round(sr * win_ms / 1000))
    hop = int(round(sr * hop_ms / 1000))
    if n_ceps > n_filters:
        raise ValueError(f"n_ceps ({n_ceps}) cannot exceed n_filters ({n_filters})")
    if win > n_fft:
        raise ValueError(f"window of {win} samples is longer than the FFT ({n_fft})")
    if preemph:
        y = np.r_[y[:1], y[1:] - preemph * y[:-1]]
    n_frames = max(1, int(np.ceil((y.size - (win - hop)) / hop)))
    y = np.pad(y, (0, max(0, (n_frames - 1) * hop + win - y.size)))
    frames = np.lib.stride_tricks.sliding_window_view(y, win)[::hop][:n_frames] * np.hamming(win)
    power = np.abs(np.fft.rfft(frames, n=n_fft, axis=1)) ** 2
    energies = power @ _linear_filterbank(sr, n_fft, n_filters, fmin, fmax)
    ceps = dct(np.log10(energies + np.finfo(np.float64).eps), type=2, norm="ortho", axis=1)[:, :n_ceps]
    if deltas:
        d = _deltas(ceps)
        ceps = np.concatenate([ceps, d, _deltas(d)], axis=1)
    return ceps.astype(np.float32)


# --------------------------------------------------------------------------- GMM back end


class LFCCGMM:
    """Two diagonal GMMs (bona fide, spoof) on LFCC frames; score = mean frame LLR.

    Parameters
    ----------
    n_components : int
        Components per class model (ASVspoof baseline: 512; default 64 for corpora of a few
        hundred clips, see the module docstring).
    covariance_type : str
        ``sklearn.mixture.GaussianMixture`` covariance type (baseline: diagonal).
    max_iter : int
        EM iterations at most.
    max_frames : int or None
        Frames per class used for fitting, drawn at random without replacement (None: all).
    seed : int
        Seeds the frame subsample and the GMM initialisation.
    """

    def __init__(self, n_components: int = 64, covariance_type: str = "diag", max_iter: int = 100,
                 max_frames: int | None = 20_000, seed: int = 0, tol: float = 1e-3):
        self.n_components, self.covariance_type, self.max_iter = n_components, covariance_type, max_iter
        self.max_frames, self.seed, self.tol = max_frames, seed, tol
        self.bona_ = self.spoof_ = None

    def _subsample(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.max_frames and X.shape[0] > self.max_frames:
            X = X[np.sort(rng.choice(X.shape[0], self.max_frames, replace=False))]
        return X

    def _gmm(self, X: np.ndarray, seed: int):
        from sklearn.mixture import GaussianMixture

        k = min(self.n_components, max(1, X.shape[0] // 2))
        return GaussianMixture(n_components=k, covariance_type=self.covariance_type, max_iter=self.max_iter,
                               tol=self.tol, reg_covar=1e-4, init_params="k-means++",
                               random_state=seed).fit(X)

    @staticmethod
    def _stack(frames) -> np.ndarray:
        if isinstance(frames, np.ndarray) and frames.ndim == 2:
            return frames.astype(np.float64, copy=False)
        return np.concatenate([np.asarray(f, dtype=np.float64) for f in frames], axis=0)

    def fit(self, X_bona_frames, X_spoof_frames) -> LFCCGMM:
        """Fit the class models.

        Parameters
        ----------
        X_bona_frames, X_spoof_frames : numpy.ndarray, shape (n_frames, d), or a list of such
            (one per clip): the LFCC frames of the bona fide / spoof training clips.

        Returns
        -------
        LFCCGMM
            ``self``.
        """
        rng = np.random.default_rng(self.seed)
        xb = self._subsample(self._stack(X_bona_frames), rng)
        xs = self._subsample(self._stack(X_spoof_frames), rng)
        if xb.shape[1] != xs.shape[1]:
            raise ValueError(f"bona fide frames have {xb.shape[1]} dimensions, spoof frames {xs.shape[1]}")
        t0 = time.perf_counter()
        self.bona_ = self._gmm(xb, self.seed)
        self.spoof_ = self._gmm(xs, self.seed + 1)
        log.info("LFCC-GMM: %d + %d frames, %d components, fitted in %.1f s (converged: %s/%s)",
                 xb.shape[0], xs.shape[0], self.bona_.n_components, time.perf_counter() - t0,
                 self.bona_.converged_, self.spoof_.converged_)
        return self

    def score(self, clips) -> np.ndarray:
        """Mean frame log-likelihood ratio of every clip (higher = more real).

        Parameters
        ----------
        clips : list of numpy.ndarray, each shape (n_frames_i, d)

        Returns
        -------
        numpy.ndarray, shape (n_clips,), float64
        """
        if self.bona_ is None:
            raise RuntimeError("LFCCGMM.score before fit")
        clips = [np.asarray(c, dtype=np.float64) for c in clips]
        if not clips:
            return np.zeros(0)
        lengths = np.array([c.shape[0] for c in clips])
        if (lengths == 0).any():
            raise ValueError("a clip has no frames")
        out = np.empty(len(clips))
        starts = np.r_[0, np.cumsum(lengths)]
        step = 256  # clips per block (bounded memory)
        for a in range(0, len(clips), step):
            X = np.concatenate(clips[a:a + step], axis=0)
            llr = self.bona_.score_samples(X) - self.spoof_.score_samples(X)
            s = starts[a:a + step + 1] - starts[a]
            out[a:a + step] = np.add.reduceat(llr, s[:-1]) / lengths[a:a + step]
        return out


# --------------------------------------------------------------------------- bands-lr


def bands_lr(features: pd.DataFrame, splits: Sequence[str] = ("dev", "eval"), feature_set: str = "bands",
             train_split: str = "train") -> pd.DataFrame:
    """The shortcut audit's logistic regression as a scoring baseline (one corpus).

    Parameters
    ----------
    features : DataFrame
        :func:`idsd.audit.audit_features` output (manifest columns + the audit statistics) of one
        corpus, with train rows and the rows to score.
    splits : sequence of str
        Splits to score.
    feature_set : str
        :data:`idsd.audit.FEATURE_SETS` key (``bands`` = the 38 statistics).
    train_split : str
        Split the classifier is fitted on.

    Returns
    -------
    DataFrame
        The scored rows' columns (audit statistics removed) + ``score`` (P(real)).

    Raises
    ------
    ValueError
        When the training split lacks a class.
    """
    from idsd.audit import BANDS, FEATURE_SETS, SCALAR, trivial_classifier

    cols = list(FEATURE_SETS[feature_set])
    tr = features[features["split"] == train_split]
    if tr["target"].nunique() < 2:
        raise ValueError(f"bands-lr: the {train_split} split needs both classes")
    clf = trivial_classifier().fit(tr[cols].to_numpy(), tr["target"].to_numpy().astype(int))
    te = features[features["split"].isin(list(splits))]
    p_real = (clf.predict_proba(te[cols].to_numpy())[:, list(clf.classes_).index(1)] if len(te)
              else np.zeros(0))
    out = te.drop(columns=[c for c in (*SCALAR, *BANDS) if c in te]).reset_index(drop=True)
    out["score"] = p_real
    return out


# --------------------------------------------------------------------------- both, from a manifest


def _extract(manifest: pd.DataFrame, kinds: Sequence[str], progress: bool, desc: str):
    """Load every row's fragment once; LFCC frames and/or audit statistics per row."""
    from idsd.audit import trivial_features
    from idsd.datasets import load_fragment

    keep, lf, tv = [], [], []
    for i, row in enumerate(tqdm(manifest.to_dict("records"), desc=desc, disable=not progress, unit="clip")):
        try:
            y = load_fragment(row["path"], int(row.get("fragment", 0) or 0))
        except AudioError as exc:
            log.warning("baselines: %s", exc)
            continue
        keep.append(i)
        if "lfcc-gmm" in kinds:
            lf.append(lfcc(y))
        if "bands-lr" in kinds:
            duration = float(row["duration"]) if "duration" in row and pd.notna(row["duration"]) else y.size / SAMPLE_RATE
            tv.append(trivial_features(y, duration))
    return np.asarray(keep, dtype=np.int64), lf, tv


def baseline_features(manifest: pd.DataFrame, kinds: Sequence[str] = KINDS, progress: bool = True,
                      desc: str = "baseline features") -> tuple[pd.DataFrame, list, np.ndarray]:
    """Load every row's fragment once and compute what the baselines need.

    Returns
    -------
    rows : DataFrame, m rows
        The rows whose audio could be read (index reset).
    lfcc_frames : list of m arrays (199, 60), or empty when ``lfcc-gmm`` is not asked for
    trivial : numpy.ndarray, shape (m, 38) (``SCALAR + BANDS`` of :mod:`idsd.audit`), or (m, 0)
    """
    kinds = list(kinds)
    rows = manifest.reset_index(drop=True)
    keep, lf, tv = _extract(rows, kinds, progress, desc)
    return rows.iloc[keep].reset_index(drop=True), lf, np.asarray(tv, dtype=float).reshape(len(keep), -1)


def fit_and_score(rows: pd.DataFrame, lfcc_frames: list, trivial: np.ndarray, train: np.ndarray, test: np.ndarray,
                  kinds: Sequence[str] = KINDS, seed: int = 0, n_components: int = 64, name: str = "") -> pd.DataFrame:
    """Fit the baselines on the ``train`` rows and score the ``test`` rows (features of :func:`baseline_features`).

    Parameters
    ----------
    train, test : numpy.ndarray of bool, shape (m,)
        Row masks; the train rows need both classes.

    Returns
    -------
    DataFrame
        The test rows + ``score`` (higher = more real; the mean frame LLR for lfcc-gmm, P(real) for
        bands-lr) + ``feature`` (the baseline name); empty when the train rows lack a class.
    """
    from idsd.audit import BANDS, SCALAR

    target = rows["target"].to_numpy().astype(int)
    if len(set(target[train])) < 2:
        log.warning("baselines: %s: the training rows need both classes; skipped", name or "corpus")
        return pd.DataFrame(columns=[*rows.columns, "score", "feature"])
    test_rows = rows[test].reset_index(drop=True)
    frames = []
    if "lfcc-gmm" in kinds:
        t0 = time.perf_counter()
        gmm = LFCCGMM(n_components=n_components, seed=seed).fit(
            [f for f, tr, t in zip(lfcc_frames, train, target) if tr and t == 1],
            [f for f, tr, t in zip(lfcc_frames, train, target) if tr and t == 0])
        score = gmm.score([f for f, te in zip(lfcc_frames, test) if te])
        log.info("baselines %s: lfcc-gmm fitted and scored in %.1f s", name, time.perf_counter() - t0)
        frames.append(test_rows.assign(score=score, feature="lfcc-gmm"))
    if "bands-lr" in kinds:
        feats = pd.concat([rows.drop(columns=[c for c in (*SCALAR, *BANDS) if c in rows]).assign(split="unused"),
                           pd.DataFrame(trivial, columns=[*SCALAR, *BANDS])], axis=1)
        # a row can be both fitted on and scored (scoring the train split): fit rows + scored rows
        both = pd.concat([feats[train].assign(split="train"), feats[test].assign(split="test")], ignore_index=True)
        scored = bands_lr(both, splits=("test",), train_split="train")
        frames.append(test_rows.assign(score=scored["score"].to_numpy(), feature="bands-lr"))
    return pd.concat(frames, ignore_index=True)


def baseline_scores(manifest: pd.DataFrame, kinds: Sequence[str] = KINDS, splits: Sequence[str] = ("dev", "eval"),
                    progress: bool = True, seed: int = 0, n_components: int = 64, mode: str = "baseline",
                    train_split: str = "train") -> pd.DataFrame:
    """Fit the baselines on each corpus's train rows and score its ``splits`` rows.

    Every clip is loaded once for both baselines. Corpora (``dataset`` column) are fitted
    separately; a corpus whose train split lacks a class is skipped (logged).

    Parameters
    ----------
    manifest : DataFrame
        Manifest rows (:data:`idsd.datasets.MANIFEST_COLUMNS`) with train rows and the rows to score.
    kinds : sequence of str
        Baselines among :data:`KINDS`.
    splits : sequence of str
        Splits to score.
    progress : bool
        Show a progress bar per corpus.
    seed : int
        Seeds the GMM (frame subsample, initialisation).
    n_components : int
        GMM components per class.
    mode : str
        Value of the ``mode`` key column of the rows (set it to the detector's mode to put the
        baselines in the same tables, e.g. ``"array"``).
    train_split : str
        Split the baselines are fitted on.

    Returns
    -------
    DataFrame
        One row per scored fragment and baseline: the manifest columns + ``score`` (higher =
        more real: P(real) for bands-lr, the mean frame LLR for lfcc-gmm) + ``feature`` and
        ``run`` (the baseline name), ``pooling`` (``""``), ``seed`` (0), ``mode``, ``train_corpus`` and
        ``eval_corpus`` (the row's ``dataset``), so that it concatenates with
        :func:`idsd.scores.collect_scores` output.
    """
    kinds = list(kinds)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; choose from {KINDS}")
    frames = []
    data = manifest if "dataset" in manifest else manifest.assign(dataset="")
    for name, corpus in data.groupby("dataset", sort=True):
        rows = corpus[corpus["split"].isin([train_split, *splits])].reset_index(drop=True)
        if rows[rows["split"] == train_split]["target"].nunique() < 2:
            log.warning("baselines: %s: the %s split needs both classes; skipped", name, train_split)
            continue
        rows, lf, tv = baseline_features(rows, kinds, progress, f"baselines {name}")
        is_train = (rows["split"] == train_split).to_numpy()
        test = rows["split"].isin(list(splits)).to_numpy()
        frames.append(fit_and_score(rows, lf, tv, is_train, test, kinds, seed, n_components, str(name)))
    if not frames:
        return pd.DataFrame(columns=[*manifest.columns, "score", "feature", "run", "pooling", "seed", "mode",
                                     "train_corpus", "eval_corpus"])
    out = pd.concat(frames, ignore_index=True)
    out["run"] = out["feature"]
    out["pooling"] = ""
    out["seed"] = 0
    out["mode"] = mode
    out["train_corpus"] = out["dataset"]
    out["eval_corpus"] = out["dataset"]
    return out
