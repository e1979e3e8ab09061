"""Wav2Lip backend: official key layout, conformance with the spec, loaders, doctor, CLI.

Checkpoints are random, seeded and written at test time in the official layout (never
committed). The conformance references below are written straight from the layer tables of
``shared/spec/wav2lip.md`` with torch.nn.functional and read nothing but the state_dict.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import torch  # noqa: E402  (the [gpu] extra, installed by scripts/setup.sh: never skipped)
F = torch.nn.functional

from heygem_kernel import audio as audio_mod  # noqa: E402
from heygem_kernel import checkpoints  # noqa: E402
from heygem_kernel.backends import wav2lip as w2l  # noqa: E402
from heygem_kernel.backends.base import AudioFeatures, FrameBatch, JobContext  # noqa: E402
from heygem_kernel.errors import CheckpointError  # noqa: E402
from heygem_kernel.options import RunOptions  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------------------------
# Spec tables. Unit = (key prefix, kind, cin, cout, k, stride, pad, residual[, out_pad]);
# kind "c" = Conv+BN+ReLU, "d" = ConvTranspose+BN+ReLU.


def _enc(prefix, first, cin, cout, n_res, k=3, stride=2, pad=1):
    units = [(f"{prefix}.0", "c", cin, cout, k, stride, pad, False)]
    units += [(f"{prefix}.{i}", "c", cout, cout, 3, 1, 1, True) for i in range(1, n_res + 1)]
    return units


GEN_FACE_ENC = [  # spec 1.2: one list per block (block outputs are the skips F0..F6)
    [("face_encoder_blocks.0.0", "c", 6, 16, 7, 1, 3, False)],
    _enc("face_encoder_blocks.1", 0, 16, 32, 2),
    _enc("face_encoder_blocks.2", 0, 32, 64, 3),
    _enc("face_encoder_blocks.3", 0, 64, 128, 2),
    _enc("face_encoder_blocks.4", 0, 128, 256, 2),
    _enc("face_encoder_blocks.5", 0, 256, 512, 1),
    [("face_encoder_blocks.6.0", "c", 512, 512, 3, 1, 0, False),
     ("face_encoder_blocks.6.1", "c", 512, 512, 1, 1, 0, False)],
]


def _audio_table(extra_res: bool):  # spec 1.3 (generator) / 2.3 (expert: one more 256 unit)
    rows = [(1, 32, 1, False), (32, 32, 1, True), (32, 32, 1, True),
            (32, 64, (3, 1), False), (64, 64, 1, True), (64, 64, 1, True),
            (64, 128, 3, False), (128, 128, 1, True), (128, 128, 1, True),
            (128, 256, (3, 2), False), (256, 256, 1, True)]
    if extra_res:
        rows.append((256, 256, 1, True))
    units = [(f"audio_encoder.{i}", "c", ci, co, 3, s, 1, r) for i, (ci, co, s, r) in enumerate(rows)]
    n = len(units)
    units += [(f"audio_encoder.{n}", "c", 256, 512, 3, 1, 0, False),
              (f"audio_encoder.{n + 1}", "c", 512, 512, 1, 1, 0, False)]
    return units


def _dec(i, cin, cout, n_res):
    units = [(f"face_decoder_blocks.{i}.0", "d", cin, cout, 3, 2, 1, False, 1)]
    return units + [(f"face_decoder_blocks.{i}.{j}", "c", cout, cout, 3, 1, 1, True)
                    for j in range(1, n_res + 1)]


GEN_DECODER = [  # spec 1.4
    [("face_decoder_blocks.0.0", "c", 512, 512, 1, 1, 0, False)],
    [("face_decoder_blocks.1.0", "d", 1024, 512, 3, 1, 0, False, 0),
     ("face_decoder_blocks.1.1", "c", 512, 512, 3, 1, 1, True)],
    _dec(2, 1024, 512, 2), _dec(3, 768, 384, 2), _dec(4, 512, 256, 2),
    _dec(5, 320, 128, 2), _dec(6, 160, 64, 2),
]
GEN_OUT = ("output_block.0", "c", 80, 32, 3, 1, 1, False)     # then output_block.1 conv 32->3 k1

SYNC_FACE_ENC = [  # spec 2.2
    ("face_encoder.0", "c", 15, 32, 7, 1, 3, False),
    ("face_encoder.1", "c", 32, 64, 5, (1, 2), 1, False),
    ("face_encoder.2", "c", 64, 64, 3, 1, 1, True), ("face_encoder.3", "c", 64, 64, 3, 1, 1, True),
    ("face_encoder.4", "c", 64, 128, 3, 2, 1, False),
    *[(f"face_encoder.{i}", "c", 128, 128, 3, 1, 1, True) for i in (5, 6, 7)],
    ("face_encoder.8", "c", 128, 256, 3, 2, 1, False),
    *[(f"face_encoder.{i}", "c", 256, 256, 3, 1, 1, True) for i in (9, 10)],
    ("face_encoder.11", "c", 256, 512, 3, 2, 1, False),
    *[(f"face_encoder.{i}", "c", 512, 512, 3, 1, 1, True) for i in (12, 13)],
    ("face_encoder.14", "c", 512, 512, 3, 2, 1, False),
    ("face_encoder.15", "c", 512, 512, 3, 1, 0, False),
    ("face_encoder.16", "c", 512, 512, 1, 1, 0, False),
]


def _units_generator():
    return [u for b in GEN_FACE_ENC for u in b] + _audio_table(False) + \
        [u for b in GEN_DECODER for u in b] + [GEN_OUT]


def _units_syncnet():
    return SYNC_FACE_ENC + _audio_table(True)


def spec_state(units, *, seed: int, extra_conv: bool) -> dict:
    """A random state_dict shaped by the spec tables (seeded; BN stats non-trivial)."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for unit in units:
        key, kind, cin, cout, k = unit[:5]
        shape = (cin, cout, k, k) if kind == "d" else (cout, cin, k, k)   # transposed layout
        fan_in = cin * k * k
        sd[f"{key}.conv_block.0.weight"] = torch.randn(shape, generator=g) * (1.0 / fan_in) ** 0.5
        sd[f"{key}.conv_block.0.bias"] = torch.randn(cout, generator=g) * 0.1
        sd[f"{key}.conv_block.1.weight"] = 0.5 + torch.rand(cout, generator=g)
        sd[f"{key}.conv_block.1.bias"] = torch.randn(cout, generator=g) * 0.1
        sd[f"{key}.conv_block.1.running_mean"] = torch.randn(cout, generator=g) * 0.1
        sd[f"{key}.conv_block.1.running_var"] = 0.5 + 1.5 * torch.rand(cout, generator=g)
        sd[f"{key}.conv_block.1.num_batches_tracked"] = torch.tensor(1000, dtype=torch.int64)
    if extra_conv:
        sd["output_block.1.weight"] = torch.randn((3, 32, 1, 1), generator=g) * (1 / 32) ** 0.5
        sd["output_block.1.bias"] = torch.randn(3, generator=g) * 0.1
    return sd


# ---------------------------------------------------------------------------------------------
# Independent functional references (spec sections 0, 1.4, 2.1).


def _unit(sd, unit, x):
    key, kind, cin, cout, k, stride, pad, residual = unit[:8]
    w, b = sd[f"{key}.conv_block.0.weight"], sd[f"{key}.conv_block.0.bias"]
    if kind == "d":
        y = F.conv_transpose2d(x, w, b, stride=stride, padding=pad, output_padding=unit[8])
    else:
        y = F.conv2d(x, w, b, stride=stride, padding=pad)
    y = F.batch_norm(y, sd[f"{key}.conv_block.1.running_mean"], sd[f"{key}.conv_block.1.running_var"],
                     sd[f"{key}.conv_block.1.weight"], sd[f"{key}.conv_block.1.bias"],
                     training=False, eps=1e-5)
    if residual:
        y = y + x                       # residual joins before the ReLU
    return F.relu(y)


def ref_generator(sd, audio, face):
    """Returns (output [N,3,96,96], logits before the sigmoid)."""
    a = audio
    for u in _audio_table(False):
        a = _unit(sd, u, a)
    skips, x = [], face
    for block in GEN_FACE_ENC:
        for u in block:
            x = _unit(sd, u, x)
        skips.append(x)
    x = a
    for d, block in enumerate(GEN_DECODER):
        for u in block:
            x = _unit(sd, u, x)
        x = torch.cat([x, skips[6 - d]], dim=1)           # decoded first, skip second
    x = _unit(sd, GEN_OUT, x)
    logits = F.conv2d(x, sd["output_block.1.weight"], sd["output_block.1.bias"])
    return torch.sigmoid(logits), logits


def ref_syncnet(sd, audio, face):
    a, f = audio, face
    for u in _audio_table(True):
        a = _unit(sd, u, a)
    for u in SYNC_FACE_ENC:
        f = _unit(sd, u, f)
    a, f = a.flatten(1), f.flatten(1)
    return a / a.norm(dim=1, keepdim=True), f / f.norm(dim=1, keepdim=True)


def rel_err(a, b) -> float:
    return float((a - b).norm() / b.norm())


# ---------------------------------------------------------------------------------------------
# Fixtures: checkpoints in the official container layout.


def official_container(sd, *, prefix="module."):
    return {"state_dict": {prefix + k: v for k, v in sd.items()},
            "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999),
                                                         "params": [0, 1]}]},
            "global_step": 441000, "global_epoch": 2450}


@pytest.fixture(scope="module")
def gen_sd():
    return spec_state(_units_generator(), seed=1, extra_conv=True)


@pytest.fixture(scope="module")
def sync_sd():
    return spec_state(_units_syncnet(), seed=2, extra_conv=False)


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory, gen_sd, sync_sd):
    """wav2lip.pth like the official (legacy torch<1.6 format, 'module.' keys, optimizer) and
    lipsync_expert.pth (bare keys, as the official expert)."""
    d = tmp_path_factory.mktemp("checkpoints")
    torch.save(official_container(gen_sd), d / "wav2lip.pth", _use_new_zipfile_serialization=False)
    torch.save(official_container(sync_sd, prefix=""), d / "lipsync_expert.pth",
               _use_new_zipfile_serialization=False)
    return d


@pytest.fixture(autouse=True)
def _private_hash_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HEYGEM_CACHE_DIR", str(tmp_path / "hash-cache"))


# ---------------------------------------------------------------------------------------------
# Layout and counts.


def test_key_and_parameter_counts_match_the_spec(gen_sd, sync_sd):
    from heygem_kernel.backends.wav2lip_nets import SyncNetColor, Wav2LipGenerator, count_params
    gen, sync = Wav2LipGenerator(), SyncNetColor()
    assert len(gen.state_dict()) == 352 and len(gen_sd) == 352
    assert len(sync.state_dict()) == 217 and len(sync_sd) == 217
    assert count_params(gen) == 36_298_035
    assert count_params(sync) == 16_435_072
    # same keys and shapes as the spec-built dicts (incl. the transposed-conv layout)
    assert {k: tuple(v.shape) for k, v in gen.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in gen_sd.items()}
    assert {k: tuple(v.shape) for k, v in sync.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in sync_sd.items()}
    assert tuple(gen.state_dict()["face_decoder_blocks.3.0.conv_block.0.weight"].shape) == (768, 384, 3, 3)


def test_official_layout_loads_strictly_with_module_prefix(ckpt_dir, gen_sd):
    model = w2l.load_generator(ckpt_dir / "wav2lip.pth")
    assert not model.training
    loaded = model.state_dict()
    assert set(loaded) == set(gen_sd)
    assert all(torch.equal(loaded[k], gen_sd[k]) for k in gen_sd)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")   # torch.jit for the TorchScript case
@pytest.mark.parametrize("layout", ["bare", "bare_module", "dict_no_prefix", "no_batches_tracked",
                                    "torchscript", "zip_module"])
def test_other_layouts_load_to_the_same_weights(tmp_path, gen_sd, layout):
    from heygem_kernel.backends.wav2lip_nets import Wav2LipGenerator
    path = tmp_path / "wav2lip_variant.pth"
    if layout == "bare":
        torch.save(gen_sd, path)
    elif layout == "bare_module":
        torch.save({"module." + k: v for k, v in gen_sd.items()}, path)
    elif layout == "dict_no_prefix":
        torch.save(official_container(gen_sd, prefix=""), path)
    elif layout == "no_batches_tracked":
        torch.save({"state_dict": {k: v for k, v in gen_sd.items() if "num_batches" not in k}}, path)
    elif layout == "torchscript":      # e.g. the re-hosted Wav2Lip-SD-*.pt files are not dicts
        m = Wav2LipGenerator()
        m.load_state_dict(gen_sd)
        torch.jit.save(torch.jit.script(m.eval()), path)
    elif layout == "zip_module":
        torch.save(official_container(gen_sd), path)
    loaded = w2l.load_generator(path).state_dict()
    for k, v in gen_sd.items():
        if layout == "no_batches_tracked" and "num_batches" in k:
            continue
        assert torch.equal(loaded[k], v), k


# ---------------------------------------------------------------------------------------------
# Conformance with the spec on deterministic weights.


def test_generator_conforms_to_spec_reference(ckpt_dir, gen_sd):
    model = w2l.load_generator(ckpt_dir / "wav2lip.pth")
    g = torch.Generator().manual_seed(3)
    mel = torch.rand((3, 1, 80, 16), generator=g) * 8 - 4
    face = torch.rand((3, 6, 96, 96), generator=g)
    face[:, :3, 48:] = 0
    logits = {}
    hook = model.output_block[1].register_forward_hook(lambda m, i, o: logits.setdefault("y", o))
    with torch.no_grad():
        out = model(mel, face)
        ref_out, ref_logits = ref_generator(gen_sd, mel, face)
    hook.remove()
    assert out.shape == (3, 3, 96, 96)
    assert rel_err(logits["y"], ref_logits) < 1e-5
    assert rel_err(out, ref_out) < 1e-5
    # a meaningful comparison: logits vary and the sigmoid is not saturated
    assert float(ref_logits.std()) > 0.05 and float((ref_out - 0.5).abs().max()) < 0.49
    # The audio path: with random weights the skips dominate the output, so compare the audio
    # embedding and the output's change under another mel separately (float64, no round-off).
    with torch.no_grad():
        emb = model.audio_encoder(mel)
        ref_emb = mel
        for u in _audio_table(False):
            ref_emb = _unit(gen_sd, u, ref_emb)
        assert rel_err(emb, ref_emb) < 1e-5 and float(emb.abs().sum()) > 0
        m64 = copy.deepcopy(model).double()
        sd64 = {k: v.double() if v.is_floating_point() else v for k, v in gen_sd.items()}
        mel2 = mel.flip(0)
        delta = m64(mel.double(), face.double()) - m64(mel2.double(), face.double())
        ref_delta = ref_generator(sd64, mel.double(), face.double())[0] - \
            ref_generator(sd64, mel2.double(), face.double())[0]
    assert float(ref_delta.abs().max()) > 1e-5 and rel_err(delta, ref_delta) < 1e-6


def test_generator_training_layout_folds_time_major(ckpt_dir):
    model = w2l.load_generator(ckpt_dir / "wav2lip.pth")
    g = torch.Generator().manual_seed(4)
    mel = torch.rand((2, 5, 1, 80, 16), generator=g) * 8 - 4
    face = torch.rand((2, 6, 5, 96, 96), generator=g)
    with torch.no_grad():
        out = model(mel, face)
        per_t = torch.stack([model(mel[:, t], face[:, :, t]) for t in range(5)], dim=2)
    assert out.shape == (2, 3, 5, 96, 96)
    assert rel_err(out, per_t) < 1e-5


def test_syncnet_conforms_to_spec_reference(ckpt_dir, sync_sd):
    net = w2l.load_syncnet(ckpt_dir / "lipsync_expert.pth")
    g = torch.Generator().manual_seed(5)
    mel = torch.rand((4, 1, 80, 16), generator=g) * 8 - 4
    face = torch.rand((4, 15, 48, 96), generator=g)
    with torch.no_grad():
        a, f = net(mel, face)
        ra, rf = ref_syncnet(sync_sd, mel, face)
    assert a.shape == (4, 512) and f.shape == (4, 512)
    assert rel_err(a, ra) < 1e-5 and rel_err(f, rf) < 1e-5
    assert torch.allclose(a.norm(dim=1), torch.ones(4), atol=1e-5)
    assert torch.allclose(f.norm(dim=1), torch.ones(4), atol=1e-5)
    assert float(a.min()) >= 0 and float(f.min()) >= 0
    cos = (a * f).sum(1)
    assert float(cos.min()) >= 0 and float(cos.max()) <= 1 + 1e-6


def test_mel_front_end_conforms_to_spec(speech_5s):
    """heygem_kernel.audio against an independent numpy transcription of spec 4.2 / 4.3."""
    from heygem_kernel import audio
    import librosa
    wav = audio.load_audio(speech_5s)
    x = wav.astype(np.float64)
    y = np.append(x[0], x[1:] - 0.97 * x[:-1])                 # pre-emphasis, zero initial state
    padded = np.pad(y, 400)                                     # center=True, zero padding
    n = 1 + len(y) // 200
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(800) / 800)   # periodic Hann
    frames = np.stack([padded[i * 200:i * 200 + 800] * window for i in range(n)], axis=1)
    mag = np.abs(np.fft.rfft(frames, axis=0))                   # (401, n)
    basis = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)
    db = 20 * np.log10(np.maximum(1e-5, basis @ mag)) - 20
    ref = np.clip(8 * (db + 100) / 100 - 4, -4, 4)
    mel = audio.melspectrogram(wav)
    assert mel.shape == ref.shape == (80, n)
    assert np.linalg.norm(mel - ref) / np.linalg.norm(ref) < 1e-4
    # windows: start int(i * 80 / fps), past the end -> the last 16 columns
    fps = 29.97
    win = audio.mel_windows(mel, fps=fps, n_frames=200)
    for i in (0, 1, 7, 100, 199):
        start = int(i * (80.0 / fps))
        want = mel[:, start:start + 16] if start + 16 <= mel.shape[1] else mel[:, -16:]
        assert np.array_equal(win[i], want)


# ---------------------------------------------------------------------------------------------
# Bad files: one line, naming the file and what was expected.


def _assert_one_line(exc, path):
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg
    return msg


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError) as exc:
        w2l.load_generator(tmp_path / "nope" / "wav2lip.pth")
    msg = _assert_one_line(exc, tmp_path / "nope" / "wav2lip.pth")
    assert msg.startswith("checkpoint not found") and "wav2lip_gan.pth" in msg and "checkpoints/" in msg


@pytest.mark.parametrize("kind", ["html", "random", "empty", "truncated_zip", "truncated_legacy"])
def test_broken_files_are_named(tmp_path, ckpt_dir, kind):
    path = tmp_path / "wav2lip.pth"
    if kind == "html":
        path.write_text("<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title>")
    elif kind == "random":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated_zip":
        src = tmp_path / "full.pth"
        torch.save({"state_dict": {"a": torch.zeros(1000)}}, src)
        path.write_bytes(src.read_bytes()[:1500])
    elif kind == "truncated_legacy":
        path.write_bytes((ckpt_dir / "wav2lip.pth").read_bytes()[:50_000_000])
    with pytest.raises(CheckpointError) as exc:
        w2l.load_generator(path)
    msg = _assert_one_line(exc, path)
    assert "not a PyTorch checkpoint" in msg and "435,807,851 bytes" in msg
    if kind == "html":
        assert "HTML" in msg


def test_wrong_model_names_key_counts(ckpt_dir, gen_sd, sync_sd):
    shared = len(set(gen_sd) & set(sync_sd))          # the 13 audio units share names (91 keys)
    assert shared == 91
    with pytest.raises(CheckpointError) as exc:
        w2l.load_generator(ckpt_dir / "lipsync_expert.pth")
    msg = _assert_one_line(exc, ckpt_dir / "lipsync_expert.pth")
    assert f"{352 - shared} of 352 expected keys missing" in msg
    assert f"{217 - shared} unexpected" in msg and "looks like the expert SyncNet" in msg
    with pytest.raises(CheckpointError) as exc:
        w2l.load_syncnet(ckpt_dir / "wav2lip.pth")
    msg = _assert_one_line(exc, ckpt_dir / "wav2lip.pth")
    assert f"{217 - shared} of 217 expected keys missing" in msg
    assert f"{352 - shared} unexpected" in msg and "looks like the Wav2Lip generator" in msg


def test_wrong_shapes_and_pickled_modules(tmp_path, gen_sd):
    bad = dict(gen_sd)
    bad["output_block.1.weight"] = torch.zeros(4, 32, 1, 1)
    path = tmp_path / "shapes.pth"
    torch.save(bad, path)
    with pytest.raises(CheckpointError) as exc:
        w2l.load_generator(path)
    assert "wrong shape" in _assert_one_line(exc, path)
    pickled = tmp_path / "whole_model.pth"
    torch.save(torch.nn.Linear(2, 2), pickled)       # a whole nn.Module needs unsafe unpickling
    with pytest.raises(CheckpointError) as exc:
        w2l.load_generator(pickled)
    assert "HEYGEM_ALLOW_PICKLE" in _assert_one_line(exc, pickled)


def test_trusted_whole_module_pickle_loads(tmp_path, gen_sd, monkeypatch):
    from heygem_kernel.backends.wav2lip_nets import Wav2LipGenerator
    m = Wav2LipGenerator()
    m.load_state_dict(gen_sd)
    path = tmp_path / "whole_generator.pth"
    torch.save(m, path)
    monkeypatch.setenv("HEYGEM_ALLOW_PICKLE", "1")
    loaded = w2l.load_generator(path).state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in gen_sd.items())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_request_without_cuda_is_one_line(ckpt_dir):
    from heygem_kernel.errors import InputError
    with pytest.raises(InputError) as exc:
        w2l.Wav2LipBackend(checkpoint=ckpt_dir / "wav2lip.pth", device="cuda")
    assert "CUDA is not available" in str(exc.value) and "\n" not in str(exc.value)


# ---------------------------------------------------------------------------------------------
# checkpoints.py and `heygem doctor`.


def test_inspect_and_doctor_list_checkpoints(tmp_path, ckpt_dir, monkeypatch):
    d = tmp_path / "ckpts"
    d.mkdir()
    (d / "wav2lip.pth").write_bytes((ckpt_dir / "wav2lip.pth").read_bytes()[:1_000_000])  # cut short
    (d / "wav2lip_gan.pth").write_text("<!doctype html><html>quota exceeded</html>")
    os.symlink(ckpt_dir / "lipsync_expert.pth", d / "lipsync_expert.pth")
    want = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in d.iterdir()}

    infos = {i.path.name: i for i in checkpoints.scan(d)}
    assert {k: i.sha256 for k, i in infos.items()} == want
    assert infos["wav2lip.pth"].status == "truncated?"
    assert infos["wav2lip_gan.pth"].status == "not a checkpoint"
    assert infos["lipsync_expert.pth"].status == "unknown"
    # a file whose checksum is in the table is "official"
    fake = checkpoints.KnownCheckpoint("lipsync_expert.pth", "syncnet", 1, want["lipsync_expert.pth"])
    monkeypatch.setitem(checkpoints.KNOWN_SHA256, fake.sha256, fake)
    assert checkpoints.inspect_checkpoint(d / "lipsync_expert.pth").status == "official"
    monkeypatch.delitem(checkpoints.KNOWN_SHA256, fake.sha256)

    env = dict(os.environ, HEYGEM_CACHE_DIR=str(tmp_path / "hash-cache"))
    r = subprocess.run([sys.executable, "-m", "heygem_kernel", "doctor", "--checkpoints", str(d)],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    for name, digest in want.items():
        line = next(l for l in r.stdout.splitlines() if l.strip().startswith(name))
        assert digest in line
    assert "truncated?" in r.stdout and "not a checkpoint" in r.stdout
    assert "ffmpeg version" in r.stdout and "torch" in r.stdout and "CUDA" in r.stdout
    r = subprocess.run([sys.executable, "-m", "heygem_kernel", "doctor", "--checkpoints", str(d),
                        "--json"], capture_output=True, text=True, timeout=300, env=env)
    report = json.loads(r.stdout)
    assert {c["sha256"] for c in report["checkpoints"]} == set(want.values())
    # the cache is keyed by size + mtime: a rewritten file is hashed again
    (d / "wav2lip.pth").write_bytes(b"\x80\x02changed")
    assert checkpoints.sha256(d / "wav2lip.pth") == hashlib.sha256(b"\x80\x02changed").hexdigest()


@pytest.mark.parametrize("head, fmt", [
    (b"<!DOCTYPE html><html>", "html"), (b"  \n<html lang=en>", "html"), (b"<?xml version='1.0'?>", "html"),
    (b"<\x00\x9f\x13binary", "unknown"),      # 1 in 256 random files starts with '<': not a web page
    (b"<\xe2\x11<\x05", "unknown"), (b"PK\x03\x04", "zip"), (b"\x80\x02}q", "legacy")])
def test_sniff_format_calls_only_markup_a_web_page(tmp_path, head, fmt):
    path = tmp_path / "model.pth"
    path.write_bytes(head + b" padding" * 80)
    assert checkpoints.sniff_format(path) == fmt


def test_checkpoint_dir_search_order(tmp_path, monkeypatch):
    monkeypatch.setenv("HEYGEM_CHECKPOINTS", str(tmp_path))
    assert checkpoints.checkpoints_dir() == tmp_path
    assert checkpoints.generator_path() == tmp_path / "wav2lip.pth"
    (tmp_path / "wav2lip_gan.pth").write_bytes(b"x")
    assert checkpoints.generator_path() == tmp_path / "wav2lip_gan.pth"
    assert w2l.syncnet_path() == tmp_path / "lipsync_expert.pth"


# ---------------------------------------------------------------------------------------------
# The backend on real frames.


def _template_landmarks(x0, y0, size):
    """A plausible iBUG-68 layout in a face box: jaw, brows, nose, eyes, mouth."""
    t = np.linspace(0, np.pi, 17)
    jaw = np.stack([0.5 - 0.5 * np.cos(t), 0.35 + 0.6 * np.sin(t)], 1)
    brows = np.stack([np.linspace(0.15, 0.85, 10), np.full(10, 0.25)], 1)
    nose = np.stack([np.full(9, 0.5), np.linspace(0.35, 0.62, 9)], 1)
    eyes = np.stack([np.tile(np.linspace(0.25, 0.4, 6), 2) + np.repeat([0, 0.35], 6), np.full(12, 0.38)], 1)
    a = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    mouth = np.stack([0.5 + 0.18 * np.cos(a), 0.78 + 0.06 * np.sin(a)], 1)
    pts = np.concatenate([jaw, brows, nose, eyes, mouth])
    assert pts.shape == (68, 2)
    return (pts * size + [x0, y0]).astype(np.float32)


def _frames(path, n):
    import cv2
    cap = cv2.VideoCapture(str(path))
    frames = [cap.read()[1] for _ in range(n)]
    cap.release()
    return frames


def _features(speech_path, fps, n_frames):
    from heygem_kernel import audio
    wav = audio.load_audio(speech_path)
    return AudioFeatures(wav=wav, sr=16000, mel=audio.melspectrogram(wav), fps=fps,
                         envelope=np.zeros(n_frames, np.float32), visemes={})


def test_face_box_is_square_padded_and_clamped():
    lms = _template_landmarks(200, 150, 200)
    x1, y1, x2, y2 = w2l.face_box(lms, width=640, height=480, pads=(0, 0, 0, 0))
    assert x1 <= lms[:, 0].min() and x2 >= lms[:, 0].max()
    assert y1 < lms[:, 1].min() and y2 >= lms[:, 1].max()         # reaches above the brows
    assert abs((x2 - x1) - (y2 - y1)) <= 2
    px1, py1, px2, py2 = w2l.face_box(lms, width=640, height=480, pads=(5, 10, 3, 4))
    assert (px1, py1, px2, py2) == (x1 - 3, y1 - 5, x2 + 4, y2 + 10)
    edge = w2l.face_box(lms - 230, width=640, height=480)           # partly outside the frame
    assert edge[0] == 0 and edge[1] == 0
    assert w2l.face_box(None, width=640, height=480) is None
    assert w2l.face_box(np.full((68, 2), np.nan), width=640, height=480) is None


def test_backend_synthesizes_patches_on_real_frames(ckpt_dir, clip_590, speech_5s):
    backend = w2l.Wav2LipBackend(checkpoint=ckpt_dir / "wav2lip.pth", device="cpu", batch_size=2,
                                 syncnet=ckpt_dir / "lipsync_expert.pth")
    frames = _frames(clip_590, 3)
    h, w = frames[0].shape[:2]
    n_out = 50
    feats = _features(speech_5s, 25.0, n_out)
    opts = RunOptions(backend="wav2lip", pads=(0, 10, 0, 0))
    backend.prepare(JobContext(audio=feats, track=None, library=None, width=w, height=h, options=opts))
    assert backend.windows(np.arange(n_out)).shape == (n_out, 80, 16)
    full = audio_mod.mel_windows(feats.mel, fps=25.0, n_frames=n_out)        # cut per batch = cut at once
    assert np.array_equal(backend.windows(np.array([0, 7, n_out - 1])), full[[0, 7, n_out - 1]])
    lms = _template_landmarks(150, 90, 300)
    originals = [f.copy() for f in frames]
    batch = FrameBatch(frames=frames, landmarks=[lms, None, lms], out_index=np.array([10, 11, 30]),
                       src_index=np.array([0, 1, 2]))
    patches = backend.synthesize(batch)
    assert patches[1] is None
    box = w2l.face_box(lms, width=w, height=h, pads=(0, 10, 0, 0))
    for p in (patches[0], patches[2]):
        assert p.image.dtype == np.uint8 and p.image.shape == (box[3] - box[1], box[2] - box[0], 3)
        assert (p.x0, p.y0) == (box[0], box[1])
    assert all(np.array_equal(a, b) for a, b in zip(frames, originals))   # frames left untouched
    # eval-mode BN: a frame's result does not depend on its batch-mates; audio time does matter
    single = backend.synthesize(FrameBatch(frames=[frames[2]], landmarks=[lms],
                                           out_index=np.array([30]), src_index=np.array([2])))
    assert np.abs(single[0].image.astype(int) - patches[2].image.astype(int)).max() <= 1
    seen = []                 # which mel windows and faces reach the network
    real_generate = backend.generate
    backend.generate = lambda faces, mels: seen.append((faces, mels)) or real_generate(faces, mels)
    backend.synthesize(FrameBatch(frames=[frames[0], frames[2]], landmarks=[lms, lms],
                                  out_index=np.array([40, 49]), src_index=np.array([0, 2])))
    del backend.generate
    faces, mels = seen[0]
    assert np.array_equal(mels, full[[40, 49]])
    assert np.array_equal(faces[1], w2l.crop96(frames[2], box))
    info = backend.describe()
    assert info["backend"] == "wav2lip" and info["device"] == "cpu" and info["dtype"] == "float32"
    assert info["sha256"] == hashlib.sha256((ckpt_dir / "wav2lip.pth").read_bytes()).hexdigest()
    assert info["sha256_status"] == "unknown"
    # loaded once per process: a second backend on the same file shares the module
    again = w2l.Wav2LipBackend(checkpoint=ckpt_dir / "wav2lip.pth", device="cpu", batch_size=8)
    assert again.model is backend.model


# ---------------------------------------------------------------------------------------------
# Sync scores.


class _CodeNet(torch.nn.Module):
    """Test network: embeds a code written into the mel / the first stacked frame's pixels,
    so the true audio/video offset of the test data is known."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, audio, face):
        a = audio[:, 0, :8, 0] + 4.0                # mel values in [-4, 4] -> >= 0
        f = face[:, 0, 0, :8] * 8.0                 # first frame's B channel, row 0
        return F.normalize(a, dim=1), F.normalize(f, dim=1)


def test_sync_scores_find_a_known_offset():
    rng = np.random.default_rng(0)
    t, lag = 80, 3
    codes = rng.uniform(0.05, 1.0, (t + lag, 8))
    mels = np.full((t, 80, 16), -4.0, np.float32)
    mouths = np.zeros((t, 48, 96, 3), np.uint8)
    for i in range(t):
        mels[i, :8, 0] = codes[i + lag] * 8 - 4     # audio of frame i
        mouths[i, 0, :8, 0] = np.round(codes[i] * 255)   # mouth shows the audio of 3 frames earlier
    res = w2l.sync_scores(_CodeNet(), mel_windows=mels, mouths=mouths, fps=25.0)
    assert res["offset_frames"] == lag                # positive: the mouth lags the audio
    assert res["lse_d"] < 0.02 and res["lse_c"] > 0.1
    assert len(res["dists"]) == 31 and res["n_windows"] == t - 4
    valid = np.ones(t, bool)
    valid[20] = False
    res2 = w2l.sync_scores(_CodeNet(), mel_windows=mels, mouths=mouths, fps=25.0, valid=valid)
    assert res2["n_windows"] == t - 4 - 5 and res2["offset_frames"] == lag


def _reference_lse(net, mels, mouths, valid, vshift):
    """All embeddings at once, every (face v, audio v+o) pair of valid stacks: the definition."""
    t = len(mouths)
    starts = [v for v in range(t - 4) if valid[v:v + 5].all()]
    face = torch.from_numpy(np.stack([mouths[v:v + 5] for v in starts])).permute(0, 1, 4, 2, 3)
    a, f = net(torch.from_numpy(mels[starts]).unsqueeze(1), face.reshape(len(starts), 15, 48, 96).float() / 255)
    a, f = a.double().numpy(), f.double().numpy()
    pos = {v: i for i, v in enumerate(starts)}
    curve = []
    for o in range(-vshift, vshift + 1):
        d = [np.linalg.norm(f[i] - a[pos[v + o]]) for i, v in enumerate(starts) if v + o in pos]
        curve.append(np.mean(d) if d else np.nan)
    return np.array(curve), len(starts)


def test_streamed_sync_scores_equal_the_definition_and_keep_little():
    rng = np.random.default_rng(3)
    t = 150
    mels = rng.uniform(-4, 4, (t, 80, 16)).astype(np.float32)
    mouths = rng.integers(0, 255, (t, 48, 96, 3), dtype=np.uint8)
    valid = np.ones(t, bool)
    valid[[30, 31, 97]] = False
    want, n = _reference_lse(_CodeNet(), mels, mouths, valid, 15)
    scorer = w2l.SyncScorer(_CodeNet(), windows=lambda idx: mels[idx], vshift=15, batch_size=7)
    most = 0
    for i in range(t):
        scorer.push(mouths[i] if valid[i] else None)
        most = max(most, len(scorer._emb))
    got = scorer.result()
    assert got["n_windows"] == n
    assert np.allclose(got["dists"], want, rtol=1e-9, equal_nan=True)
    assert most <= 16                    # embeddings of the last vshift + 1 windows only


def test_sync_scores_with_the_expert_network(ckpt_dir, clip_590):
    net = w2l.load_syncnet(ckpt_dir / "lipsync_expert.pth")
    frames = _frames(clip_590, 12)
    lms = _template_landmarks(150, 90, 300)
    mouths = np.stack([w2l.mouth_crop(f, lms) for f in frames])
    assert mouths.shape == (12, 48, 96, 3)
    mels = np.random.default_rng(1).uniform(-4, 4, (12, 80, 16)).astype(np.float32)
    res = w2l.sync_scores(net, mel_windows=mels, mouths=mouths, fps=25.0, vshift=3)
    assert np.isfinite(res["lse_d"]) and 0 <= res["lse_d"] <= 2 ** 0.5
    assert res["lse_c"] >= 0 and -3 <= res["offset_frames"] <= 3 and res["n_windows"] == 8


# ---------------------------------------------------------------------------------------------
# End to end through the CLI (needs the engine's pipeline).


@pytest.fixture(scope="module")
def short_speech(tmp_path_factory, speech_5s):
    out = tmp_path_factory.mktemp("speech") / "speech_1p6s.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(speech_5s), "-t", "1.6", str(out)],
                   check=True, timeout=60)
    return out


@pytest.mark.slow
def test_cli_run_with_wav2lip_backend(tmp_path, ckpt_dir, clip_590, short_speech):
    out = tmp_path / "out.mp4"
    env = dict(os.environ, HEYGEM_CHECKPOINTS=str(ckpt_dir), HEYGEM_CACHE_DIR=str(tmp_path / "c"))
    r = subprocess.run([sys.executable, "-m", "heygem_kernel", "run", "--backend", "wav2lip",
                        "--checkpoint", str(ckpt_dir / "wav2lip.pth"), "--device", "cpu",
                        "--audio", str(short_speech), "--video", str(clip_590), "--out", str(out),
                        "--runs-root", str(tmp_path / "runs"), "--quiet"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=900, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    probe = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(out)],
        capture_output=True, text=True, check=True).stdout)
    video = next(s for s in probe["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == (590, 590)
    assert abs(float(probe["format"]["duration"]) - 1.6) < 0.2
    result = json.loads(next((tmp_path / "runs").glob("*/result.json")).read_text())
    assert result["backend"] == "wav2lip"
    params = json.loads(next((tmp_path / "runs").glob("*/params.json")).read_text())
    assert "wav2lip.pth" in json.dumps(params)
    # the expert found in HEYGEM_CHECKPOINTS scored the output into the run record
    assert np.isfinite(result["extra"]["syncnet_lse_d"])
    assert isinstance(result["extra"]["syncnet_offset_frames"], int)


@pytest.mark.slow
@pytest.mark.parametrize("broken", ["missing", "html"])
def test_cli_run_broken_checkpoint_fails_cleanly(tmp_path, clip_590, short_speech, broken):
    ckpt = tmp_path / "wav2lip.pth"
    if broken == "html":
        ckpt.write_text("<!DOCTYPE html><html>Sign in</html>")
    r = subprocess.run([sys.executable, "-m", "heygem_kernel", "run", "--backend", "wav2lip",
                        "--checkpoint", str(ckpt), "--device", "cpu", "--audio", str(short_speech),
                        "--video", str(clip_590), "--out", str(tmp_path / "o.mp4"),
                        "--runs-root", str(tmp_path / "runs"), "--quiet"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    lines = [l for l in r.stderr.splitlines() if l.startswith("heygem: error")]
    assert len(lines) == 1 and str(ckpt) in lines[0]
    assert not (tmp_path / "o.mp4").exists()
