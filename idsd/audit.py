"""Shortcut audit: can a trivial classifier on trivial statistics separate the classes?

For every fragment: file duration, RMS level, peak level, fraction of digital zeros, mean and
standard deviation of a 32-band log-mel spectrogram (``scalar`` set, 6 numbers), plus the 32
per-band means of the log-mel (``bands`` set, 38 numbers). A standardised, class-balanced
logistic regression is fitted on the ``train`` split and scored on ``eval``; the audit reports
accuracy, ROC AUC and EER (scores = P(real)). A corpus on which this baseline gets near-perfect
numbers lets a detector win without learning anything about synthetic speech.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from idsd import SAMPLE_RATE
from idsd.errors import AudioError
from idsd.progress import tqdm

log = logging.getLogger(__name__)

SCALAR = ("duration", "rms_db", "peak_db", "zero_frac", "logmel_mean", "logmel_std")
N_BANDS = 32
BANDS = tuple(f"band{i:02d}" for i in range(N_BANDS))
FEATURE_SETS = {"scalar": SCALAR, "bands": SCALAR + BANDS}


def trivial_features(y: np.ndarray, duration: float) -> np.ndarray:
    """The audit statistics of one 2-s fragment.

    Parameters
    ----------
    y : numpy.ndarray, shape (32000,)
    duration : float
        Duration of the whole file in seconds.

    Returns
    -------
    numpy.ndarray, shape (6 + 32,), float64, ordered as ``SCALAR + BANDS``
    """
    import librosa

    y = np.asarray(y, dtype=np.float32)
    rms = np.sqrt(np.mean(np.square(y, dtype=np.float64)))
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    zero = float(np.mean(np.abs(y) < 0.5 / 32768))
    mel = librosa.feature.melspectrogram(y=y, sr=SAMPLE_RATE, n_fft=1024, hop_length=256, n_mels=N_BANDS)
    logmel = np.log10(mel + 1e-10)
    return np.concatenate([[duration, 20 * np.log10(rms + 1e-12), 20 * np.log10(peak + 1e-12), zero,
                            logmel.mean(), logmel.std()], logmel.mean(axis=1)])


def audit_features(manifest: pd.DataFrame, progress: bool = True) -> pd.DataFrame:
    """Trivial statistics of every manifest row.

    Returns
    -------
    pandas.DataFrame
        The manifest's columns plus ``SCALAR + BANDS``; rows whose audio cannot be read are
        dropped (and logged).
    """
    from idsd.datasets import load_fragment

    feats, keep = [], []
    for i, row in enumerate(tqdm(manifest.to_dict("records"), desc="audit features", disable=not progress,
                                 unit="clip")):
        try:
            y = load_fragment(row["path"], int(row["fragment"]))
        except AudioError as exc:
            log.warning("audit: %s", exc)
            continue
        feats.append(trivial_features(y, float(row["duration"])))
        keep.append(i)
    cols = list(SCALAR + BANDS)
    out = manifest.iloc[keep].drop(columns=[c for c in cols if c in manifest.columns]).reset_index(drop=True)
    return pd.concat([out, pd.DataFrame(np.asarray(feats).reshape(len(keep), len(cols)), columns=cols)], axis=1)


def _eer(target: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(target, score)
    fnr = 1 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    return float((fpr[i] + fnr[i]) / 2)


def trivial_classifier():
    """The audit's classifier: standardised features, class-balanced logistic regression (unfitted)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced"))


def shortcut_audit(features: pd.DataFrame, feature_set: str = "scalar", train_split: str = "train",
                   test_split: str = "eval") -> dict:
    """Fit the trivial baseline on one corpus and score it on its held-out split.

    Parameters
    ----------
    features : pandas.DataFrame
        Output of :func:`audit_features` for one corpus.
    feature_set : str
        ``scalar`` or ``bands`` (see :data:`FEATURE_SETS`).

    Returns
    -------
    dict
        ``dataset, features, n_train, n_test, accuracy, auc, eer`` and ``per_source`` (accuracy
        per source on the test split).
    """
    from sklearn.metrics import roc_auc_score

    cols = list(FEATURE_SETS[feature_set])
    tr, te = features[features.split == train_split], features[features.split == test_split]
    name = str(features["dataset"].iloc[0]) if len(features) else ""
    res = dict(dataset=name, features=feature_set, n_train=len(tr), n_test=len(te), accuracy=np.nan, auc=np.nan,
               eer=np.nan, per_source={})
    if tr.target.nunique() < 2 or te.target.nunique() < 2:
        log.warning("audit %s: train and test need both classes", name)
        return res
    clf = trivial_classifier().fit(tr[cols].to_numpy(), tr.target.to_numpy())
    p_real = clf.predict_proba(te[cols].to_numpy())[:, list(clf.classes_).index(1)]
    pred = (p_real >= 0.5).astype(int)
    correct = pred == te.target.to_numpy()
    res.update(accuracy=float(correct.mean()), auc=float(roc_auc_score(te.target, p_real)),
               eer=_eer(te.target.to_numpy(), p_real),
               per_source={s: float(correct[(te.source == s).to_numpy()].mean()) for s in sorted(te.source.unique())})
    return res


def audit_corpora(features: pd.DataFrame, feature_sets=("scalar", "bands")) -> pd.DataFrame:
    """The audit of every corpus in a features table (``dataset`` column), one row per corpus x set.

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset, features, n_train, n_test, accuracy, auc, eer``.
    """
    rows = []
    for _name, df in features.groupby("dataset", sort=False):
        for fs in feature_sets:
            r = shortcut_audit(df, fs)
            r.pop("per_source")
            rows.append(r)
    return pd.DataFrame(rows)


def per_source(features: pd.DataFrame, feature_set: str = "bands") -> pd.DataFrame:
    """Test accuracy of the trivial baseline per corpus and source (which fakes give themselves away)."""
    rows = []
    for name, df in features.groupby("dataset", sort=False):
        for source, acc in shortcut_audit(df, feature_set)["per_source"].items():
            rows.append(dict(dataset=name, source=source, accuracy=acc,
                             n_test=int(((df.split == "eval") & (df.source == source)).sum())))
    return pd.DataFrame(rows)


def sample_rows(manifest: pd.DataFrame, per_group: int | None, seed: int = 0,
                by=("dataset", "split", "label")) -> pd.DataFrame:
    """At most ``per_group`` rows per (dataset, split, label), seeded (keeps audits of big corpora fast)."""
    if not per_group:
        return manifest
    shuffled = manifest.sample(frac=1.0, random_state=seed)
    return shuffled.groupby(list(by), sort=False).head(per_group).sort_index().reset_index(drop=True)


def plot_distributions(features: pd.DataFrame, columns=("rms_db", "duration", "zero_frac", "logmel_mean")):
    """Histograms of trivial statistics per corpus (rows) and statistic (columns), real vs fake.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(features["dataset"]))
    fig, axes = plt.subplots(len(names), len(columns), figsize=(3.2 * len(columns), 2.2 * len(names)),
                             squeeze=False, constrained_layout=True)
    for i, name in enumerate(names):
        df = features[features.dataset == name]
        for j, col in enumerate(columns):
            ax = axes[i, j]
            vals = df[col].to_numpy(dtype=float)
            lo, hi = np.nanmin(vals), np.nanmax(vals)
            bins = np.linspace(lo, hi if hi > lo else lo + 1e-6, 30)
            for label, color in (("real", "tab:blue"), ("fake", "tab:red")):
                ax.hist(df[df.label == label][col], bins=bins, alpha=0.5, color=color, label=label, density=True)
            if i == 0:
                ax.set_title(col)
            if j == 0:
                ax.set_ylabel(name)
    axes[0, 0].legend(fontsize=8)
    return fig
