"""Waveform augmentation (idsd.augment): determinism, the physics of each step, the codec pool, the
Augmenter's model-card dict and the augmented Keras feed."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import requires, synthetic_clip
from scipy import signal

from idsd import CLIP_SAMPLES, SAMPLE_RATE
from idsd import augment as A
from idsd.batches import ArrayBatches
from idsd.cache import _store
from idsd.features import extract_batch

HAVE_FFMPEG = shutil.which("ffmpeg") is not None
ALL_ON = A.Augmenter(p_codec=1.0, p_reverb=1.0, p_noise=1.0, p_band=1.0, p_rawboost=1.0, p_gain=1.0)


@pytest.fixture(scope="module")
def clips() -> np.ndarray:
    """(5, 32000) float32: speech-like toy clips with a little broadband noise, one near full scale."""
    r = np.random.default_rng(0)
    Y = np.stack([synthetic_clip("real" if i % 2 else "fake", i) for i in range(5)])
    Y = Y + 0.01 * r.standard_normal(Y.shape)
    Y[4] *= 0.99 / np.max(np.abs(Y[4]))  # exercises the peak limiting of every step
    return Y.astype(np.float32)


def band_energy(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    S = np.abs(np.fft.rfft(np.asarray(x, np.float64), axis=-1)) ** 2
    f = np.fft.rfftfreq(np.shape(x)[-1], 1 / SAMPLE_RATE)
    return S[..., (f >= lo) & (f < hi)].sum(axis=-1)


def ratio_db(out, ref, lo, hi):
    return 10 * np.log10(band_energy(out, lo, hi) / band_energy(ref, lo, hi))


def lag(a: np.ndarray, b: np.ndarray, max_lag: int = 400) -> int:
    """Lag (samples) of b relative to a at the cross-correlation peak."""
    n = len(a) + len(b)
    c = np.fft.irfft(np.fft.rfft(b, n) * np.conj(np.fft.rfft(a, n)), n)
    lags = np.r_[np.arange(0, max_lag + 1), np.arange(-max_lag, 0)]
    return int(lags[np.argmax(c[lags])])


def snr_db(x, y):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return 10 * np.log10(np.sum(x**2, axis=-1) / np.sum((y - x) ** 2, axis=-1))


STEPS = {
    "gain": lambda X, s: A.gain(X, s),
    "noise": lambda X, s: A.add_noise(X, s),
    "band_limit": lambda X, s: A.band_limit(X, s),
    "reverb": lambda X, s: A.reverb(X, s),
    "lnl": lambda X, s: A.lnl_noise(X, s),
    "isd": lambda X, s: A.isd_noise(X, s),
    "ssi": lambda X, s: A.ssi_noise(X, s),
    "rawboost": lambda X, s: A.rawboost(X, s, A.RawBoost(algos=tuple(A.RAWBOOST_ALGOS))),
    "augmenter": lambda X, s: ALL_ON(X, s),
}


@pytest.mark.parametrize("name", list(STEPS))
def test_step_contract(name, clips):
    fn = STEPS[name]
    before = clips.copy()
    out = fn(clips, 7)
    assert np.array_equal(clips, before), "the input must not be modified"
    assert out.shape == clips.shape and out.dtype == np.float32
    assert np.all(np.isfinite(out)) and np.max(np.abs(out)) <= 1.0
    assert np.array_equal(out, fn(clips, 7)), "same seed, same output"
    assert np.array_equal(out, fn(clips, np.random.default_rng(7))), "a seed and its Generator agree"
    assert not np.array_equal(out, fn(clips, 8)), "another seed, another output"
    assert not np.allclose(out, clips)
    one = fn(clips[0], 7)
    assert one.shape == (CLIP_SAMPLES,) and one.dtype == np.float32 and np.max(np.abs(one)) <= 1.0


def test_seed_required_and_hot_input(clips):
    with pytest.raises(ValueError, match="seed"):
        A.gain(clips, None)
    hot = clips * 3.0  # beyond full scale: every step returns audio within [-1, 1]
    for fn in STEPS.values():
        assert np.max(np.abs(fn(hot, 1))) <= 1.0


def test_gain_range_and_limit(clips):
    quiet = clips * 0.1
    out = A.gain(quiet, 3, db=(-12.0, 6.0))
    g = 20 * np.log10(np.max(np.abs(out), axis=1) / np.max(np.abs(quiet), axis=1))
    assert np.all((g >= -12 - 1e-4) & (g <= 6 + 1e-4))
    loud = A.gain(clips, 3, db=(6.0, 6.0))  # +6 dB on a 0.99-peak clip: limited to peak 1, not clipped
    assert np.isclose(np.max(np.abs(loud[4])), 1.0)
    np.testing.assert_allclose(loud[4] * np.max(np.abs(clips[4])), clips[4], atol=1e-6)


def test_noise_snr_on_active_power(clips):
    X = clips * 0.3
    for color in A.NOISE_COLORS:
        for snr in (5.0, 20.0, 35.0):
            out = A.add_noise(X, 11, snr_db=(snr, snr), colors=(color,))
            noise = out.astype(np.float64) - X
            measured = 10 * np.log10(A.active_power(X) / np.mean(noise**2, axis=1))
            assert np.all(np.abs(measured - snr) < 0.5), (color, snr, measured)
    # the active power ignores pauses: a clip padded with as much silence keeps its active power
    half = np.concatenate([X[:, :16000], np.zeros((5, 16000), np.float32)], axis=1)
    np.testing.assert_allclose(10 * np.log10(A.active_power(half)), 10 * np.log10(A.active_power(X[:, :16000])),
                               atol=0.5)


def test_noise_colours():
    N = A.colored_noise((3, CLIP_SAMPLES), 0, ["white", "pink", "brown"])
    np.testing.assert_allclose(np.sqrt(np.mean(N.astype(np.float64) ** 2, axis=1)), 1.0, rtol=1e-4)
    # three octaves (250-500 Hz vs 2-4 kHz): 0, 9 and 18 dB for 1/f^0, 1/f, 1/f^2
    f = np.fft.rfftfreq(CLIP_SAMPLES, 1 / SAMPLE_RATE)
    S = np.abs(np.fft.rfft(N, axis=1)) ** 2
    slope = 10 * np.log10(S[:, (f >= 250) & (f < 500)].mean(1) / S[:, (f >= 2000) & (f < 4000)].mean(1))
    np.testing.assert_allclose(slope, [0.0, 9.03, 18.06], atol=1.5)
    kurt = np.mean(N[0].astype(np.float64) ** 4) / np.mean(N[0].astype(np.float64) ** 2) ** 2
    assert abs(kurt - 3.0) < 0.2  # Gaussian samples


def test_band_limit_removes_out_of_band_energy():
    W = (0.1 * np.random.default_rng(1).standard_normal((4, CLIP_SAMPLES))).astype(np.float32)
    tel = A.band_limit(W, 0, ("telephone",))
    assert np.all(ratio_db(tel, W, 4500, 8000) < -35)
    assert np.all(ratio_db(tel, W, 20, 150) < -15)
    assert np.all(np.abs(ratio_db(tel, W, 600, 3000)) < 0.5)
    lp = A.band_limit(W, 0, ("lowpass",), high_hz=(2000, 2000))
    assert np.all(ratio_db(lp, W, 3000, 8000) < -35) and np.all(np.abs(ratio_db(lp, W, 100, 1500)) < 0.5)
    hp = A.band_limit(W, 0, ("highpass",), low_hz=(1000, 1000))
    assert np.all(ratio_db(hp, W, 0, 500) < -25) and np.all(np.abs(ratio_db(hp, W, 1500, 7500)) < 0.5)
    bp = A.band_limit(W, 0, ("bandpass",), low_hz=(500, 500), high_hz=(4000, 4000))
    assert np.all(ratio_db(bp, W, 0, 250) < -20) and np.all(ratio_db(bp, W, 6000, 8000) < -40)
    for i in range(4):  # zero phase: no shift
        assert lag(W[i], tel[i]) == 0


def test_reverb_tail_alignment_level():
    r = np.random.default_rng(2)
    burst = np.zeros((3, CLIP_SAMPLES), np.float32)
    burst[:, 1600:8000] = 0.2 * r.standard_normal((3, 6400))  # 0.1-0.5 s, then silence
    tail = slice(8800, 16000)  # 0.55-1.0 s
    short = A.reverb(burst, 0, rt60_s=(0.1, 0.1), drr_db=(0.0, 0.0))
    long = A.reverb(burst, 0, rt60_s=(0.8, 0.8), drr_db=(0.0, 0.0))
    e_long = np.sum(long[:, tail].astype(np.float64) ** 2, axis=1)
    e_short = np.sum(short[:, tail].astype(np.float64) ** 2, axis=1)
    assert np.all(e_long > 100 * e_short) and np.all(e_long > 1e-3 * np.sum(burst.astype(np.float64) ** 2, 1))
    np.testing.assert_allclose(np.sqrt(np.mean(long.astype(np.float64) ** 2, 1)),
                               np.sqrt(np.mean(burst.astype(np.float64) ** 2, 1)), rtol=1e-4)  # level-matched
    for i in range(3):
        assert lag(burst[i], long[i]) == 0  # the direct path keeps the clip aligned


def test_impulse_response_rt60_and_drr():
    h = A.impulse_response(0, rt60_s=0.5, drr_db=3.0)
    assert len(h) == 8000 and h[0] == 1.0
    assert np.isclose(10 * np.log10(1.0 / np.sum(h[1:] ** 2)), 3.0)
    edc = np.cumsum(h[1:][::-1] ** 2)[::-1]  # Schroeder backward integral of the tail
    edc_db = 10 * np.log10(edc / edc[0])
    assert abs(edc_db[4000] - (-30.0)) < 3.0  # half of RT60: -30 dB


def test_bandstop_design_matches_firwin():
    hs = A._bandstops(np.random.default_rng(3), 6, (20.0, 8000.0), (100.0, 1000.0), (10, 100))
    r = np.random.default_rng(3)  # the same draws, in _bandstops' order
    fc, bw = r.uniform(20, 8000, 6), r.uniform(100, 1000, 6)
    m = r.integers(10, 101, 6) | 1
    for i in range(6):
        f1, f2 = max(fc[i] - bw[i] / 2, 1e-3), min(fc[i] + bw[i] / 2, 8000 - 1e-3)
        ref = signal.firwin(m[i], [f1, f2], window="hamming", pass_zero="bandstop", fs=SAMPLE_RATE)
        np.testing.assert_allclose(hs[i], ref, atol=1e-12)
    b = A.notch_filter(4, gain_db=(-6.0, -6.0))
    assert len(b) % 2 == 1 and np.allclose(b, b[::-1])
    assert np.isclose(np.max(np.abs(np.fft.rfft(b, 32768))), 10 ** (-6 / 20), rtol=1e-6)


def test_rawboost_components(clips):
    X = clips * 0.5
    for name in A.RAWBOOST_ALGOS:
        out = A.rawboost(X, 5, A.RawBoost(algos=(name,)))
        s = snr_db(X, out)
        assert np.all((s > -5) & (s < 45)), (name, s)  # changed, but still the same speech
    ssi = A.ssi_noise(X, 5, A.RawBoost(ssi_snr_db=(20.0, 20.0)))
    np.testing.assert_allclose(snr_db(X, ssi), 20.0, atol=0.01)
    assert np.all((snr_db(X, A.ssi_noise(X, 6)) >= 10 - 0.01) & (snr_db(X, A.ssi_noise(X, 6)) <= 40 + 0.01))
    isd = A.isd_noise(X, 5).astype(np.float64)
    for i in range(len(X)):  # at most 10 % of the samples moved (besides the peak rescaling)
        nz = np.abs(X[i]) > 1e-3
        c = np.median(isd[i][nz] / X[i][nz])
        changed = np.abs(isd[i] - c * X[i]) > 1e-5 * np.max(np.abs(X[i]))
        assert 0 < changed.mean() <= 0.10 + 1e-3
        assert np.isclose(np.max(np.abs(isd[i])), np.max(np.abs(X[i])), rtol=1e-5)
    lnl = A.lnl_noise(X, 5)
    for i in range(len(X)):
        assert lag(X[i], lnl[i]) == 0  # centred filters: no delay
        assert np.isclose(np.max(np.abs(lnl[i])), np.max(np.abs(X[i])), rtol=1e-5)
    # no notch, order 1, 0 dB: the identity (up to the mean removed)
    ident = A.lnl_noise(X - X.mean(1, keepdims=True), 5, A.RawBoost(n_bands=0, n_orders=1))
    np.testing.assert_allclose(ident, X - X.mean(1, keepdims=True), atol=1e-5)
    with pytest.raises(ValueError):
        A.RawBoost(algos=("nope",))


# ------------------------------------------------------------------------------------------ codecs

NARROWBAND = ("mulaw", "alaw", "gsm", "g726")


@requires(HAVE_FFMPEG, "ffmpeg")
def test_codec_roundtrips(clips):
    assert set(A.available_codecs(A.DEFAULT_CODECS)) == set(A.DEFAULT_CODECS), A._ffmpeg_encoders()
    for codec in A.DEFAULT_CODECS:
        spec = A.CODECS[codec]
        br = min(spec.bitrates) if spec.bitrates else None
        out = A.codec_roundtrip(clips, codec, br)
        assert out.shape == clips.shape and out.dtype == np.float32
        assert np.all(np.isfinite(out)) and np.max(np.abs(out)) <= 1.0
        for i in range(len(clips)):
            assert abs(lag(clips[i], out[i])) <= 2, (codec, i, lag(clips[i], out[i]))
        assert np.all(snr_db(clips, out) < 40), codec  # the codec changed the signal
        if spec.rate == 8000:  # narrowband: nothing left above 4 kHz
            assert np.all(ratio_db(out, clips, 4200, 8000) < -25), codec
        elif codec in ("mp3", "aac"):  # their lowest bitrates low-pass the clip
            assert np.all(ratio_db(out, clips, 7000, 8000) < -20), codec
        elif codec == "opus":  # 8 kbit/s: narrowband mode
            assert np.all(ratio_db(out, clips, 4200, 8000) < -15), codec
    one = A.codec_roundtrip(clips[0], "mulaw")
    assert one.shape == (CLIP_SAMPLES,)


@requires(HAVE_FFMPEG, "ffmpeg")
def test_codec_pool(clips):
    codecs = ("mulaw", "alaw", "mp3")
    choice = A.codec_choices(len(clips), 3, codecs)
    assert choice == A.codec_choices(len(clips), 3, codecs)
    assert choice != A.codec_choices(len(clips), 4, codecs)
    assert all(c in codecs and (br in A.CODECS[c].bitrates if A.CODECS[c].bitrates else br is None)
               for c, br in choice)
    pool = A.codec_pool(clips, 3, codecs)
    assert pool.shape == clips.shape and pool.dtype == np.float32
    assert np.array_equal(pool, A.codec_pool(clips, 3, codecs, workers=1))
    for i, (c, br) in enumerate(choice):
        assert abs(lag(clips[i], pool[i])) <= 2
        if c in ("mulaw", "alaw"):  # stateless: the batched split is exact, sample for sample
            np.testing.assert_array_equal(pool[i], A.codec_roundtrip(clips[i], c, br))
    with pytest.raises(ValueError, match="unknown"):
        A.codec_pool(clips, 3, ("nope",))
    # the chain draws from the pool: the codec step alone returns the pool rows
    only = A.Augmenter(p_codec=1.0, p_reverb=0, p_noise=0, p_band=0, p_rawboost=0, p_gain=0)
    np.testing.assert_array_equal(only(clips, 0, coded=pool), pool)
    np.testing.assert_array_equal(only(clips, 0), clips)  # no pool: no codec step


# ------------------------------------------------------------------------------------------ Augmenter


def test_augmenter_dict_round_trip(clips):
    for aug in (A.Augmenter(), A.Augmenter.off(), A.Augmenter(p_noise=0.7, noise_snr_db=(0.0, 12.5),
                                                                noise_colors=("pink",), order=("gain", "noise"),
                                                                rawboost=A.RawBoost(algos=("lnl|isd",),
                                                                                    n_orders=(1, 3)))):
        d = json.loads(json.dumps(aug.to_dict()))
        assert A.Augmenter.from_dict(d) == aug
        assert d["kind"] == "idsd.augment.Augmenter" and d["sample_rate"] == SAMPLE_RATE
    d = A.Augmenter().to_dict()
    assert {k for k in d if k.startswith("p_")} == {"p_codec", "p_reverb", "p_noise", "p_band", "p_rawboost",
                                                    "p_gain"}
    assert d["gain_db"] == [-12.0, 6.0] and d["rawboost"]["ssi_snr_db"] == [10.0, 40.0]
    with pytest.raises(ValueError):
        A.Augmenter(p_noise=1.5)
    with pytest.raises(ValueError):
        A.Augmenter(order=("noise", "noise"))
    with pytest.raises(TypeError):
        A.Augmenter.from_dict({**d, "p_bogus": 0.1})
    assert not A.Augmenter.off().active
    np.testing.assert_array_equal(A.Augmenter.off()(clips, 0), clips)
    out = A.Augmenter()(clips, 9)
    assert np.array_equal(out, A.Augmenter()(clips, 9)) and not np.array_equal(out, A.Augmenter()(clips, 10))


# ------------------------------------------------------------------------------------------ Keras feed


@pytest.fixture(scope="module")
def waves(clips) -> tuple[np.ndarray, np.ndarray]:
    Y = np.concatenate([clips, clips[:1] * 0.5])  # 6 clips
    return Y, np.array([0, 1, 0, 1, 0, 1])


def test_batches_without_augmentation_equal_direct_extraction(waves):
    Y, y = waves
    ds = A.AugmentedBatches(Y, y, "mel", batch_size=4, shuffle=True, seed=1, class_weight={0: 2.0, 1: 0.5})
    assert len(ds) == 2
    seen = []
    for i in range(len(ds)):
        x, yb, w = ds[i]
        rows = ds.rows(i)
        seen += list(rows)
        direct = extract_batch(Y[rows], "mel")
        assert x.dtype == np.float32 and x.shape == direct.shape
        np.testing.assert_allclose(x, direct, rtol=1e-3, atol=1e-7)  # float16 storage
        np.testing.assert_array_equal(x, _store(direct).astype(np.float32))  # exactly as cached
        np.testing.assert_array_equal(yb[:, 0], y[rows])
        np.testing.assert_array_equal(w, np.where(y[rows] == 0, 2.0, 0.5))
    assert sorted(seen) == list(range(len(Y)))
    # the same values as ArrayBatches over a cached (float16) array of the same clips
    cached = A.AugmentedBatches(Y, y, "mel", batch_size=4, augmenter=A.Augmenter.off())
    ref = ArrayBatches(_store(extract_batch(Y, "mel")), y, batch_size=4)
    for i in range(len(ref)):
        for a, b in zip(cached[i], ref[i]):
            np.testing.assert_array_equal(a, b)
    assert len(A.AugmentedBatches(Y, None, "mel", batch_size=4)[0]) == 1  # inputs only
    half = A.AugmentedBatches(Y.astype(np.float16), y, "mel", batch_size=4)[0][0]  # float16 waveforms
    np.testing.assert_allclose(half, ref[0][0], rtol=2e-2, atol=1e-4)


def test_batches_with_augmentation_reproducible_and_new_each_epoch(waves):
    Y, y = waves
    aug = A.Augmenter(p_noise=1.0, p_gain=1.0, p_reverb=0.0, p_band=0.0, p_rawboost=0.0)

    def make(seed=5):
        return A.AugmentedBatches(Y, y, "mfcc", augmenter=aug, batch_size=3, shuffle=True, seed=seed)

    a, b = make(), make()
    x0 = a[0][0]
    np.testing.assert_array_equal(x0, b[0][0])  # same seed: same batch
    assert not np.array_equal(a.waveforms(0), make(6).waveforms(0))
    a.on_epoch_end()
    assert a.epoch == 1
    assert not np.array_equal(a.order(0), a.order(1))  # reshuffled
    x1 = a[0][0]
    assert not np.allclose(x1, x0)
    np.testing.assert_array_equal(a.batch(0, epoch=0)[0], x0)  # any batch can be recomputed
    np.testing.assert_array_equal(a.batch(0, epoch=1)[0], b.batch(0, epoch=1)[0])
    # the same clips in two epochs get different augmentations
    fixed = A.AugmentedBatches(Y, y, "mfcc", augmenter=aug, batch_size=6, seed=5)
    assert not np.allclose(fixed.waveforms(0, epoch=0), fixed.waveforms(0, epoch=1))
    np.testing.assert_array_equal(fixed.rows(0, 0), fixed.rows(0, 1))


def test_batches_draw_from_codec_pools(waves):
    Y, y = waves
    only = A.Augmenter(p_codec=1.0, p_reverb=0, p_noise=0, p_band=0, p_rawboost=0, p_gain=0)
    ds = A.AugmentedBatches(Y, y, "mfcc", augmenter=only, batch_size=4, coded=Y * 0.5)
    np.testing.assert_array_equal(ds.waveforms(1), Y[4:] * 0.5)
    two = np.stack([Y * 0.5, Y * 0.25])
    ds = A.AugmentedBatches(Y, y, "mfcc", augmenter=only, batch_size=6, coded=two)
    W = ds.waveforms(0)
    assert all(np.array_equal(W[i], two[0, i]) or np.array_equal(W[i], two[1, i]) for i in range(6))
    with pytest.raises(ValueError, match="coded"):
        A.AugmentedBatches(Y, y, "mfcc", coded=Y[:3])
    with pytest.raises(ValueError, match="labels"):
        A.AugmentedBatches(Y, y[:3], "mfcc")


def test_benchmark_runs(capsys):
    res = A.benchmark(n=2, codecs=(), repeat=1)
    assert "extract_batch mel" in res and all(v >= 0 for v in res.values())
    assert "ms/clip" in capsys.readouterr().out
