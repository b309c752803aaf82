"""Batches of a feature array for Keras: the one data feed of training and inference.

The features are read one batch at a time from the feature cache's memory map (or a row view of
it, :class:`idsd.cache.RowView`) and converted to float32 per batch, so the whole set is never
copied and no per-sample Python generator runs; it works on every Keras backend.
"""

from __future__ import annotations

import math

import keras
import numpy as np


class ArrayBatches(keras.utils.PyDataset):
    """Batches of a (possibly memory-mapped) feature array, converted to float32 per batch.

    Parameters
    ----------
    X : array-like, shape (n, n_bins, n_frames)
        Features (float16 memmap or array); one batch is read at a time.
    y : np.ndarray, shape (n,), optional
        Labels; None yields inputs only (prediction).
    batch_size : int
    shuffle : bool
        Reshuffle the order every epoch (rows inside a batch are read in file order).
    seed : int
        Seed of the shuffling.
    class_weight : dict, optional
        ``{class: weight}``; yields ``(x, y, sample_weight)`` batches.
    """

    def __init__(self, X, y=None, batch_size: int = 128, shuffle: bool = False, seed: int = 0,
                 class_weight: dict | None = None):
        super().__init__(workers=1, use_multiprocessing=False)
        self.X, self.y = X, y
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.rng = np.random.default_rng(seed)
        self.order = np.arange(len(X))
        self.weights = None
        if class_weight is not None and y is not None:
            self.weights = np.array([class_weight[0], class_weight[1]], dtype=np.float32)
        if shuffle:
            self.rng.shuffle(self.order)

    def __len__(self) -> int:
        return math.ceil(len(self.X) / self.batch_size)

    def __getitem__(self, i: int):
        idx = self.order[i * self.batch_size:(i + 1) * self.batch_size]
        if self.shuffle:
            idx = np.sort(idx)  # sequential reads from the memory map; order within a batch is irrelevant
            x = np.asarray(self.X[idx], dtype=np.float32)
        else:
            x = np.asarray(self.X[idx[0]:idx[-1] + 1], dtype=np.float32)
        if self.y is None:
            return (x,)
        yb = self.y[idx].astype(np.float32).reshape(-1, 1)
        if self.weights is not None:
            return x, yb, self.weights[self.y[idx].astype(np.intp)]
        return x, yb

    def on_epoch_end(self):
        if self.shuffle:
            self.rng.shuffle(self.order)
