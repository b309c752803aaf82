"""idsd.perturb: the 16 modifications, the split writer, the modified manifest."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import requires

from idsd.cli import main
from idsd.perturb import (
    MODIFICATIONS,
    make_backgrounds,
    modified_manifest,
    modify,
    modify_split,
    tools_available,
)

HAVE_TOOLS = shutil.which("sox") is not None and shutil.which("ffmpeg") is not None


def clip(seed=0, n=32000):
    r = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    y = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 6500 * t) + 0.02 * r.normal(size=n)
    return y.astype(np.float32)


def band_energy(y, lo, hi):
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(y), 1 / 16000)
    return spec[(f >= lo) & (f < hi)].sum() / spec.sum()


def test_sixteen_modifications_listed():
    assert len(MODIFICATIONS) == 16 and len(set(MODIFICATIONS)) == 16


def test_numpy_modifications_follow_sox_semantics():
    y = clip()
    r = np.random.default_rng(0)
    assert np.allclose(modify(y, "volume", r), 0.5 * y)
    noisy = modify(y, "noise", r)
    assert abs(np.std(noisy - 0.5 * y) - 0.01 / np.sqrt(3)) < 1e-3  # sox -m average of in and 0.02 noise
    q = modify(y, "bitrate", r)
    assert np.allclose(q * 128, np.round(q * 128)) and np.max(np.abs(q - y)) < 2 / 128
    bgs = make_backgrounds(seconds=5.0, seed=0)
    assert set(bgs) == {"street", "birds"}
    assert np.array_equal(bgs["street"], make_backgrounds(seconds=5.0, seed=0)["street"])
    for name in ("street", "birds"):
        z = modify(y, name, np.random.default_rng(1), bgs)
        assert z.shape == y.shape and np.std(z - 0.5 * y) > 0.005
    assert band_energy(bgs["birds"], 2000, 7000) > 0.5 and band_energy(bgs["street"], 0, 1000) > 0.5
    with pytest.raises(ValueError, match="unknown modification"):
        modify(y, "autotune", r)


@requires(HAVE_TOOLS, "sox / ffmpeg")
@pytest.mark.parametrize("mod", [m for m in MODIFICATIONS if m not in ("volume", "noise", "bitrate", "street", "birds")])
def test_tool_modifications(mod, tmp_path):
    y = clip(1)
    z = modify(y, mod, np.random.default_rng(0), tmpdir=str(tmp_path))
    assert z.shape == y.shape and z.dtype == np.float32 and np.isfinite(z).all()
    assert not np.allclose(z, y, atol=1e-4)
    if mod in ("reduce", "combined"):
        assert band_energy(z, 5500, 8000) < 0.01 * band_energy(y, 5500, 8000)
    if mod == "downsample":
        assert band_energy(z, 4200, 8000) < 1e-3
    if mod in ("ogg", "aac", "wma", "m4v"):
        assert np.corrcoef(z, y)[0, 1] > 0.5  # a codec round trip, not noise
    # repeatable: sox's dither (16-bit output after an effect) is seeded, not taken from the clock
    again = modify(y, mod, np.random.default_rng(0), tmpdir=str(tmp_path))
    assert np.array_equal(z, again)


@requires(HAVE_TOOLS, "sox / ffmpeg")
def test_modify_split_layout_manifest_and_bad_input(tmp_path, write_clip, capsys):
    split = tmp_path / "mini" / "validation"
    for i in range(2):
        write_clip(split / "real" / f"r{i}.wav", clip(i))
        write_clip(split / "fake" / f"f{i}.wav", clip(10 + i))
    (split / "fake" / "broken.wav").write_bytes(b"nope")
    mods = ("volume", "reduce", "mp3")
    written, rejected = modify_split(split, tmp_path / "mod", mods=mods, progress=False)
    assert len(written) == 4 * 3
    assert (tmp_path / "mod" / "reduce" / "validation" / "fake" / "f1.wav").is_file()
    assert rejected.reason.str.contains("").any() and rejected.file.str.endswith("broken.wav").all()
    base = pd.DataFrame(dict(path=[str((split / "real" / "r0.wav").resolve())], dataset=["mini-x"], source=["bonafide"],
                             speaker=["carlo"]))
    m, rej = modified_manifest(tmp_path / "mod", base, progress=False)
    assert len(m) == 12 and set(m.condition) == set(mods) and set(m.split) == {"eval"}
    assert set(m[m.path.str.endswith("r0.wav")].speaker) == {"carlo"}
    assert set(m.dataset) == {"mini-x"}
    # the CLI (files exist already: reused)
    assert main(["corpus", "modify", "--in", str(split), "--out", str(tmp_path / "mod"), "--mods", *mods,
                 "--manifest", str(tmp_path / "modified.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "modified.csv")) == 12
    assert "problems" in capsys.readouterr().out


def test_tools_available_reports_every_modification():
    assert set(tools_available()) == set(MODIFICATIONS)
