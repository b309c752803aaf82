"""idsd.plots: the spectrogram gallery of notebook 02 (clips picked from a manifest, one panel per input)."""

from __future__ import annotations

import numpy as np

from idsd import CLIP_SAMPLES, plots
from idsd.audio import fragments, load_audio


def test_pick_clips_and_gallery(manifest_factory):
    m = manifest_factory({"train": 3}, seconds=4.0)
    m = m.assign(fragment=1)  # the second 2-s fragment of each 4-s file
    clips = plots.pick_clips(m, seed=0)
    assert [k.split(" ")[0] for k in clips] == ["real", "fake"]
    for name, y in clips.items():
        assert y.shape == (CLIP_SAMPLES,) and y.dtype == np.float32
        label = name.split(" ")[0]
        # the clip is the manifest's fragment of one of that label's files
        assert any(np.array_equal(y, fragments(load_audio(p), pad=True)[1]) for p in m[m.label == label].path)
    assert plots.pick_clips(m, seed=0).keys() == clips.keys()
    assert all(np.array_equal(a, b) for a, b in zip(clips.values(), plots.pick_clips(m, seed=0).values()))

    fig = plots.gallery(clips, ["mfcc", "mel"], modes=("array", "db"))
    axes = np.array(fig.axes).reshape(4, 2)
    assert [ax.get_title() for ax in axes[0]] == list(clips)
    assert [ax.get_ylabel() for ax in axes[:, 0]] == ["mfcc\narray 40x63", "mfcc\ndb 40x63", "mel\narray 256x126",
                                                       "mel\ndb 256x126"]
