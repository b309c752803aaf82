"""idsd.corpus: TTS input safety, the tiny embedded suite, determinism, study preparation."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from conftest import requires

from idsd.cli import main
from idsd.corpus import build, build_suite, dsp, fillets, prepare_study, preset_with, suite_summary, tts
from idsd.corpus.build import CORPORA, METADATA_COLUMNS
from idsd.corpus.sources import Prompt, available_languages, transcripts
from idsd.paths import Outputs
from idsd.study import Study

HAVE_SUITE = bool(available_languages()) and shutil.which("espeak-ng") is not None and fillets.available()
needs_suite = requires(HAVE_SUITE, "the Asterisk prompts, Fish Fillets NG or espeak-ng")

NASTY = 'Say "hi" (now) \\ ") (system "touch PWNED") (" --help; [beep] {x} `id` $HOME'


def test_clean_text_neutralises_quotes_parentheses_backslashes():
    t = tts.clean_text(NASTY)
    for ch in '"()\\[]{}`$':
        assert ch not in t
    assert t.startswith("Say hi now") and "system" in t
    assert tts.clean_text("--voice en -w /etc/passwd") == "voice en -w etc passwd"
    assert tts.clean_text("Perché l'attesa è lunga?") == "Perché l'attesa è lunga?"
    assert tts.clean_text("  \x00\x07 ") == ""


@requires(shutil.which("festival") is not None and tts.festival_voice_installed("kal_diphone"),
          "festival with the kal voice")
def test_festival_batch_cannot_be_injected(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outs = tts.festival_batch("kal_diphone", [NASTY, 'plain "quoted" text', "(exit)"])
    assert not (tmp_path / "PWNED").exists()
    assert all(o is not None and len(o[0]) > 1000 for o in outs)


@requires(shutil.which("espeak-ng") is not None and shutil.which("flite") is not None, "espeak-ng / flite")
def test_command_line_engines_read_text_not_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    y, sr = tts.espeak("en-us", "--help")
    assert sr == 22050 and len(y) > 2000  # spoken, not the help text
    y, sr = tts.flite("kal16", "-voice awb -o /tmp/x.wav " + NASTY)
    assert len(y) > 2000 and not (tmp_path / "PWNED").exists()


def test_dsp_chain_properties(rng):
    y = (0.1 * rng.normal(size=40000)).astype(np.float32)
    z = dsp.common_chain(y, 22050)
    assert z.dtype == np.float32 and abs(len(z) - len(y) * 16000 / 22050) < 2
    w = dsp.finish(np.zeros(32000, np.float32) + 1e-3, np.random.default_rng(1))
    assert np.mean(w == 0) < 0.01  # noise floor: no digital silence
    assert -30 < dsp.rms_db(dsp.finish(y[:32000], np.random.default_rng(2))) < -16
    ch = dsp.playback_channel(y[:32000], np.random.default_rng(3))
    assert ch.shape == (32000,) and np.isfinite(ch).all()
    assert len(dsp.trim(np.concatenate([np.zeros(8000), y, np.zeros(8000)]).astype(np.float32))) < 40000 + 4000


@pytest.fixture(scope="module")
def study_outputs(tmp_path_factory):
    assert HAVE_SUITE, "the Asterisk prompts, Fish Fillets NG or espeak-ng are not installed (./run_tests.sh installs them)"
    out = Outputs(tmp_path_factory.mktemp("study") / "outputs")
    prepare_study(out, quick=True, seed=0, progress=False)
    return out


@needs_suite
@pytest.mark.slow
def test_tiny_suite_layout_and_contract(study_outputs):
    root = study_outputs.data / "corpora"
    summary = suite_summary(root)
    assert summary["params"]["preset"]["name"] == "tiny"
    prompt_split = {}
    for name in CORPORA:
        meta = pd.read_csv(root / name / "metadata.csv", keep_default_na=False)
        assert tuple(meta.columns) == METADATA_COLUMNS
        assert {"train", "dev", "eval"} == set(meta.split)
        for (split, label), _ in meta.groupby(["split", "label"]):
            assert (root / name / {"train": "training", "dev": "testing", "eval": "validation"}[split] / label).is_dir()
        for split in ("train", "dev", "eval"):
            assert set(meta[meta.split == split].label) == {"real", "fake"}, (name, split)
        for key, split in zip(meta.prompt, meta.split):  # sentence-disjoint across the whole suite
            assert prompt_split.setdefault(key, split) == split, (name, key)
        info = sf.info(root / name / meta.path.iloc[0])
        assert info.samplerate == 16000 and info.frames == 32000 and info.channels == 1
        y, _ = sf.read(root / name / meta.path.iloc[-1])
        assert np.mean(y == 0) < 0.02  # no digital-silence cue
    for_meta = pd.read_csv(root / "mini-for" / "metadata.csv")
    assert (for_meta.label == "real").sum() == (for_meta.label == "fake").sum()
    fake_engines = {s.split("-")[0] for s in for_meta[for_meta.label == "fake"].source}
    assert len(fake_engines) >= 2
    wf = pd.read_csv(root / "mini-wavefake" / "metadata.csv")
    assert set(wf[wf.label == "fake"].source) == {"world", "griffinlim", "lpc"}
    for name in ("mini-for", "mini-wavefake"):  # the Czech source is exercised, in both classes
        meta = pd.read_csv(root / name / "metadata.csv", keep_default_na=False)
        cs = meta[meta.lang == "cs"]
        assert set(cs.label) == {"real", "fake"}, name
        assert cs[cs.label == "real"].speaker.str.startswith("cs-").all()
        assert cs.prompt.str.startswith("fillets/").all()
    asv = pd.read_csv(root / "mini-asvspoof" / "metadata.csv")
    share = (asv.label == "real").mean()
    assert 0.1 <= share <= 0.35
    assert set(asv[asv.label == "fake"].source) <= {f"A0{i}" for i in range(1, 8)}
    assert any(s in set(asv.source) for s in ("A05", "A06", "A07"))  # conversion-style attacks present


@needs_suite
@pytest.mark.slow
def test_study_manifests_and_modified_set(study_outputs):
    study = Study.load(study_outputs)
    assert study.source == "embedded" and study.train_corpora == list(CORPORA)
    assert study.learning_curve_corpus == "mini-wavefake" and study.modified_base == "mini-for"
    for name in CORPORA:
        m = study.manifest(study_outputs, name)
        assert set(m.dataset) == {name} and (m.fragment == 0).all() and (m.duration == 2.0).all()
        assert m.source.ne("unknown").all()
    mod = study.modified(study_outputs)
    assert set(mod.condition) == {"mp3", "ogg", "aac", "wma", "m4v", "reduce", "volume", "noise", "bitrate",
                                  "combined", "street", "birds", "overdrive", "flanger", "downsample", "reverb"}
    assert set(mod.split) == {"eval"} and set(mod.dataset) == {"mini-for"}
    assert mod.groupby("condition").size().nunique() == 1
    base = study.manifest(study_outputs, "mini-for")
    assert set(mod.source) <= set(base.source)


@needs_suite
@pytest.mark.slow
def test_build_is_reused_and_cli(study_outputs, capsys):
    root = study_outputs.data / "corpora"
    before = (root / "suite.json").stat().st_mtime_ns
    assert main(["corpus", "build", "--preset", "tiny", "--out", str(root), "--no-progress"]) == 0
    assert (root / "suite.json").stat().st_mtime_ns == before  # same preset + seed: reused
    assert "mini-asvspoof" in capsys.readouterr().out


def _checksums(root) -> dict[str, str]:
    return {str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(root.rglob("*")) if f.is_file() and f.name != "suite.json"}


@needs_suite
@pytest.mark.slow
def test_tiny_suite_rebuilds_byte_identical(study_outputs, tmp_path):
    """The same preset + seed gives the same files (SHA-256 of every wav and metadata.csv)."""
    first = study_outputs.data / "corpora"
    build_suite(tmp_path / "again", "tiny", seed=0, progress=False)
    a, b = _checksums(first), _checksums(tmp_path / "again")
    assert len(a) > 200 and sum(k.endswith(".wav") for k in a) > 200
    assert a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []
    sa, sb = suite_summary(first), suite_summary(tmp_path / "again")
    assert sa["corpora"] == sb["corpora"] and sa["tts_skipped"] == sb["tts_skipped"]


@needs_suite
def test_build_is_deterministic(tmp_path):
    preset = preset_with("tiny", langs=("en",), prompts_per_lang=5, cs_prompts=0, gl_iter=2)
    a = build_suite(tmp_path / "a", preset, seed=3, progress=False, corpora=("mini-wavefake",))
    b = build_suite(tmp_path / "b", preset, seed=3, progress=False, corpora=("mini-wavefake",))
    ma = pd.read_csv(a["mini-wavefake"] / "metadata.csv")
    mb = pd.read_csv(b["mini-wavefake"] / "metadata.csv")
    assert ma.equals(mb) and len(ma) >= 4
    for p in ma.path:
        assert (a["mini-wavefake"] / p).read_bytes() == (b["mini-wavefake"] / p).read_bytes()
    c = build_suite(tmp_path / "c", preset, seed=4, progress=False, corpora=("mini-wavefake",))
    mc = pd.read_csv(c["mini-wavefake"] / "metadata.csv")
    assert not (mc.path.tolist() == ma.path.tolist() and all(
        (a["mini-wavefake"] / p).read_bytes() == (c["mini-wavefake"] / p).read_bytes() for p in ma.path))
    assert json.loads((tmp_path / "a" / "suite.json").read_text())["params"]["seed"] == 3


@needs_suite
def test_transcripts_parse():
    en = transcripts("en")
    assert en["agent-pass"].startswith("Please enter your password")
    assert not any("[" in t for t in en.values()) and not any(k.startswith("silence/") for k in en)


def test_fillets_dialog_parser_unescapes_and_skips_effects():
    text = ('dialogId("a-1", "font_big", "Say \\"hi\\"")\ndialogStr("Řekni \\"ahoj\\"")\n\n'
            'dialogId("laser", "", "")\n\ndialogId("b-2", "font_small", "x")\n  dialogStr("Tak jo.")')
    assert fillets.parse_dialogs(text) == {"a-1": ("font_big", 'Řekni "ahoj"'), "b-2": ("font_small", "Tak jo.")}
    assert fillets.speaker_of("font_small") == "cs-small" and fillets.speaker_of("") == "cs-unknown"


@requires(fillets.available(), "fillets-ng-data(-cs)")
def test_fillets_prompts_deduplicated():
    ps = fillets.list_prompts()
    assert len(ps) > 1500 and all(p.lang == "cs" and p.path.endswith(".ogg") for p in ps)
    assert len({p.key for p in ps}) == len(ps)
    assert len({fillets._text_key(p.text) for p in ps}) == len(ps)  # no sentence twice
    digests = [hashlib.sha256(open(p.path, "rb").read()).hexdigest() for p in ps]
    assert len(set(digests)) == len(ps)  # no byte-identical clip twice
    speakers = {p.speaker for p in ps}
    assert {"cs-small", "cs-big"} <= speakers and len(speakers) > 10
    y = fillets.vorbis_roundtrip(np.sin(np.arange(32000) * 0.05).astype(np.float32) * 0.3)
    z = fillets.vorbis_roundtrip(np.sin(np.arange(32000) * 0.05).astype(np.float32) * 0.3)
    assert y.shape == (32000,) and y.dtype == np.float32 and np.array_equal(y, z)


def _utt(lang: str, key: str, seconds: float, split: str = "eval") -> build._Utt:
    p = Prompt(lang, key, "text", "/nonexistent", "spk")
    return build._Utt(p, np.zeros(int(seconds * 16000), np.float32), split, voice=tts.Voice("espeak", lang))


def test_pick_respects_cap_and_czech_share():
    items = [_utt("en", f"e{i}", 4.5) for i in range(30)] + [_utt("cs", f"fillets/x/{i}", 2.5) for i in range(80)]
    w = lambda u: dsp.n_windows(len(u.real), None)  # noqa: E731  (2 windows per en item, 1 per cs item)
    got = build._pick(items, w, 50, 0.4)
    n_cs = sum(w(u) for u in got if u.prompt.lang == "cs")
    total = sum(w(u) for u in got)
    assert 48 <= total <= 50 and n_cs <= 0.4 * total + 1 and n_cs >= 15
    everything = build._pick(items, w, None, 0.4)
    assert sum(w(u) for u in everything if u.prompt.lang == "en") == 60
    assert sum(w(u) for u in everything if u.prompt.lang == "cs") == 40  # 0.4 / 0.6 x 60


def test_engine_failure_is_retried_then_fails_loudly(monkeypatch):
    calls = {"n": 0}

    def flaky(voice, text, rate=170, pitch=50):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("transient")
        return np.ones(8000, np.float32) * 0.1, 16000

    monkeypatch.setattr(build.tts, "espeak", flaky)
    u = _utt("en", "k1", 3.0)
    assert build._synthesize([u], seed=0, progress=False) == []
    assert calls["n"] == 2 and u.fake is not None and len(u.fake) > 0

    def broken(voice, text, rate=170, pitch=50):
        raise OSError("engine gone")

    monkeypatch.setattr(build.tts, "espeak", broken)
    with pytest.raises(RuntimeError, match="failed 3 times"):
        build._synthesize([_utt("en", "k2", 3.0)], seed=0, progress=False)
