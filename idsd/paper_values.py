"""The paper's published numbers, as data (for printing beside ours, never as results).

Source: ``docs/paper.md`` section 9, "The published values": the values that
the plotting scripts of the official repository (AntonFirc/IDSD, branch
``spectrogram-generator``, ``plot_scores/plot_eer_graphs.py``, ``plot_learning_curve.py``,
``plot_data_requirements.py``) hard-code, very likely the SAC '24 figures. EERs are fractions
(0.0559 = 5.59 %). The paper's corpora are the real ones (:data:`PAPER_CORPORA`); a result of
this workbook on an embedded stand-in (``mini-for`` for F2S...) is a different experiment and
every table labels the two with their corpus names.

The repository gives no numbers for the cross-dataset matrix (only the code) and it is unknown
whether the paper reports the modified-speech robustness study (docs/paper.md sections 8 and 9.4), so
those tables have no paper column.
"""

from __future__ import annotations

import pandas as pd

from idsd.feature_params import FEATURES  # the paper's column order; defined once there

SOURCE = ("Firc, Malinka, Hanáček, SAC '24 (doi 10.1145/3605098.3635911); values from "
          "AntonFirc/IDSD@spectrogram-generator plot_scores/*.py, see docs/paper.md section 9")

FEATURE_LABELS = {
    "mel": "Mel-Spectrogram", "stft": "STFT-Spectrogram", "cqt": "CQT-Spectrogram",
    "vqt": "VQT-Spectrogram", "iirt": "IIRT-Spectrogram", "mfcc": "MFCC-Cepstrogram",
    "chroma": "Chromagram",
}
"""Legend names of the paper's figures (docs/paper.md 9.2)."""

PAPER_CORPORA = {
    "F2S": "FoR for-2seconds",
    "FREC": "FoR for-rerecorded",
    "AS19": "ASVspoof 2019 LA",
    "WF": "WaveFake + LJSpeech + JSUT",
    "AVC": "FakeAVCeleb",
    "FM": "Firc's 'dip' deepfake set (cs + en)",
    "AS21": "ASVspoof 2021 DF",
}
"""The paper's corpus abbreviations (docs/paper.md section 7) and what they are."""

PAPER_TRAIN_CORPORA = ("F2S", "FREC", "AS19", "WF")
PAPER_EVAL_CORPORA = ("F2S", "FREC", "AS19", "WF", "AVC", "FM", "AS21")

# docs/paper.md 9.1: in-domain EER (train = eval), rows as in the script
_IN_DOMAIN = {
    "AS19": (0.2559, 0.2036, 0.1967, 0.2073, 0.2656, 0.1571, 0.2729),
    "F2S": (0.0559, 0.0106, 0.0346, 0.0417, 0.0728, 0.0070, 0.2661),
    "FREC": (0.0160, 0.0045, 0.0035, 0.0058, 0.0068, 0.0019, 0.1055),
    "WF": (0.0055, 0.0004, 0.0089, 0.0018, 0.1665, 0.0039, 0.3225),
    "Total": (0.1264, 0.1003, 0.0971, 0.0994, 0.2044, 0.0761, 0.2804),
}

# docs/paper.md 9.2: learning curve on WaveFake (cumulative class-balanced tenths of its training split)
LEARNING_CURVE_CORPUS = "WF"
_LC_N = (24_000, 48_000, 72_000, 96_000, 120_000, 144_000, 168_000, 192_000, 216_000, 240_000)
_LC = {
    "mel": (0.3666, 0.4114, 0.1138, 0.0887, 0.0834, 0.0541, 0.0318, 0.00764, 0.0138, 0.00556),
    "stft": (0.3878, 0.3953, 0.000357, 0.000576, 0.000210, 0.000324, 0.000210, 0.000113, 0.000324,
             0.000429),
    "cqt": (0.4251, 0.2417, 0.0889, 0.0133, 0.00485, 0.00637, 0.0146, 0.0110, 0.0553, 0.00899),
    "vqt": (0.4270, 0.2944, 0.0269, 0.0158, 0.0224, 0.0126, 0.00654, 0.00844, 0.0132, 0.00185),
    "iirt": (0.4312, 0.4328, 0.3660, 0.2814, 0.2525, 0.2233, 0.1875, 0.1811, 0.1704, 0.1666),
    "mfcc": (0.1621, 0.3745, 0.0101, 0.0077, 0.0069, 0.0056, 0.0056, 0.0048, 0.0040, 0.00394),
    "chroma": (0.4705, 0.4722, 0.4262, 0.4086, 0.3918, 0.3891, 0.3887, 0.3748, 0.3739, 0.3225),
}

# docs/paper.md 9.3: hardware and speed. Storage: GB of float32 arrays of ~240k WaveFake training
# samples [INF]; RAM: peak host RAM while training, GB [INF]; extraction time per sample, ms.
HARDWARE_SAMPLES = 240_000
_HW = {  # storage_gb, ram_gb, extract_ms
    "mel": (31.0, 82, 6.126),
    "stft": (62.0, 200, 0.846),
    "cqt": (10.2, 39, 25.89),
    "vqt": (10.2, 42, 23.40),
    "iirt": (11.7, 55, 167.2),
    "mfcc": (2.5, 14, 5.534),
    "chroma": (1.5, 11, 3.818),
}


def in_domain_eer() -> pd.DataFrame:
    """Paper table 9.1: in-domain EER.

    Returns
    -------
    DataFrame, shape (5, 7)
        Index: ``AS19, F2S, FREC, WF, Total`` (paper corpus names); columns: :data:`FEATURES`.
        "Total" is the paper's pooled value, not the row mean (docs/paper.md 9.1).
    """
    df = pd.DataFrame.from_dict(_IN_DOMAIN, orient="index", columns=list(FEATURES))
    df.index.name = "paper corpus"
    return df


def learning_curve() -> pd.DataFrame:
    """Paper table 9.2: EER vs training-set size on WaveFake (10 cumulative subsets).

    Returns
    -------
    DataFrame, shape (70, 5)
        Long format: ``subset`` (1..10), ``fraction`` (subset / 10), ``n_train``, ``feature``,
        ``eer``.
    """
    rows = [
        {"subset": i + 1, "fraction": (i + 1) / 10, "n_train": n, "feature": f, "eer": _LC[f][i]}
        for f in FEATURES for i, n in enumerate(_LC_N)
    ]
    return pd.DataFrame(rows)


def hardware() -> pd.DataFrame:
    """Paper table 9.3: storage, RAM and extraction time per feature, with max-normalised values.

    Returns
    -------
    DataFrame, shape (7, 6)
        Index: feature; columns ``storage_gb`` (GB, float32 arrays of
        :data:`HARDWARE_SAMPLES` samples), ``ram_gb``, ``extract_ms`` (per 2-s sample) and
        ``storage_norm``, ``ram_norm``, ``time_norm`` (each divided by its maximum, as in the
        paper's bar chart).
    """
    df = pd.DataFrame.from_dict(_HW, orient="index", columns=["storage_gb", "ram_gb", "extract_ms"])
    df.index.name = "feature"
    for col, norm in (("storage_gb", "storage_norm"), ("ram_gb", "ram_norm"), ("extract_ms", "time_norm")):
        df[norm] = df[col] / df[col].max()
    return df


def paper_label(paper_name: str) -> str:
    """``"F2S"`` -> ``"F2S (FoR for-2seconds)"``; unknown names are returned unchanged."""
    full = PAPER_CORPORA.get(paper_name)
    return f"{paper_name} ({full})" if full else paper_name
