"""MuseTalk 1.5 backend: official layout, conformance with references written from the facts
of issue 10, one-line errors, doctor, and ``heygem run --backend musetalk`` end to end.

Weights are deterministic (``musetalk_testing``: crc32-seeded PCG64) and written at test time
in MuseTalk's ``models/`` layout, never committed. The official musetalk.json is loaded
strictly at full size (3.4 GB of float32 shapes) from a file of broadcast tensors; the other
tests shrink the block widths. The references below re-derive every step with plain numpy /
torch.nn.functional from the issue's facts; they call only the library layers themselves.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")
F = torch.nn.functional

from heygem_kernel.backends import musetalk as mt  # noqa: E402
from heygem_kernel.backends import musetalk_testing as mtt  # noqa: E402
from heygem_kernel.errors import CheckpointError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
INPUTS = Path(os.environ.get("HEYGEM_SPEC", ROOT.parent / "shared" / "spec")) / "musetalk_inputs"


def _inputs(name: str) -> Path:
    path = INPUTS / name
    if not path.exists():
        pytest.skip(f"conformance input {path} not present")
    return path


@pytest.fixture(autouse=True)
def _private_hash_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HEYGEM_CACHE_DIR", str(tmp_path / "hash-cache"))


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    return mtt.write_models_dir(tmp_path_factory.mktemp("musetalk") / "models", size="tiny")


@pytest.fixture(scope="module")
def model(models_dir):
    return mt.load_musetalk(models_dir, "cpu")


@pytest.fixture(scope="module")
def speech3() -> np.ndarray:
    import soundfile
    wav, sr = soundfile.read(str(_inputs("speech_3s_16k.wav")), dtype="float32")
    assert sr == 16000 and wav.ndim == 1
    return wav


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    import cv2
    return np.stack([cv2.imread(str(_inputs(f"face{i}.png"))) for i in range(4)])


# ---------------------------------------------------------------------------------------------
# The official config, strictly.


def _broadcast_state(module) -> dict:
    """Official shapes at almost no size: every tensor a stride-0 view of one seeded value."""
    out = {}
    for k, v in module.state_dict().items():
        value = mtt.fill(k, (1,))
        out[k] = torch.from_numpy(value).expand(*v.shape) if v.dim() else torch.tensor(value[0])
    return out


def test_official_musetalk_json_loads_strictly(tmp_path):
    from diffusers import UNet2DConditionModel
    folder = tmp_path / "musetalkV15"
    folder.mkdir()
    cfg_path = folder / "musetalk.json"
    cfg_path.write_text(json.dumps(mtt.OFFICIAL_UNET_CONFIG))
    with torch.device("meta"):
        ref = UNet2DConditionModel(**{k: v for k, v in mtt.OFFICIAL_UNET_CONFIG.items()
                                      if not k.startswith("_")})
    state = _broadcast_state(ref)
    torch.save(state, folder / "unet.pth")
    assert (folder / "unet.pth").stat().st_size < 2_000_000

    unet = mt._load_unet(cfg_path, folder / "unet.pth")
    # every field of the released config reached the model (none silently ignored)
    for key, value in mtt.OFFICIAL_UNET_CONFIG.items():
        if not key.startswith("_"):
            got = unet.config[key]
            assert (list(got) if isinstance(got, (list, tuple)) else got) == value, key
    sd = unet.state_dict()
    assert set(sd) == set(state) and len(sd) == 686
    n_bytes = sum(v.numel() for v in sd.values()) * 4
    assert 3.39e9 < n_bytes < 3.41e9                       # the released unet.pth is ~3.4 GB
    assert tuple(sd["conv_in.weight"].shape) == (320, 8, 3, 3)       # masked + reference latents
    cross = [k for k in sd if k.endswith("attn2.to_k.weight")]
    assert cross and all(sd[k].shape[1] == 384 for k in cross)       # whisper-tiny width
    k0 = "down_blocks.0.attentions.0.proj_in.weight"
    assert torch.equal(sd[k0], state[k0])

    # strict: one key missing, or one shape off, is a one-line error naming the file
    key = sorted(state)[100]
    torch.save({k: v for k, v in state.items() if k != key}, folder / "unet.pth")
    with pytest.raises(CheckpointError) as err:
        mt._load_unet(cfg_path, folder / "unet.pth")
    assert str(folder / "unet.pth") in str(err.value) and key in str(err.value)
    assert "\n" not in str(err.value)
    bad = dict(state, **{"conv_in.weight": torch.zeros(320, 4, 3, 3)})
    torch.save(bad, folder / "unet.pth")
    with pytest.raises(CheckpointError, match=r"conv_in\.weight \(320, 4, 3, 3\) instead of \(320, 8, 3, 3\)"):
        mt._load_unet(cfg_path, folder / "unet.pth")


def test_deterministic_fill_rule():
    rng = np.random.Generator(np.random.PCG64(zlib.crc32(b"a.weight")))
    np.testing.assert_array_equal(mtt.fill("a.weight", (3, 4)),
                                  (rng.standard_normal((3, 4)) / 2.0).astype(np.float32))
    rng = np.random.Generator(np.random.PCG64(zlib.crc32(b"norm.weight")))
    np.testing.assert_array_equal(mtt.fill("norm.weight", (5,)),
                                  (1 + 0.1 * rng.standard_normal(5)).astype(np.float32))
    rng = np.random.Generator(np.random.PCG64(zlib.crc32(b"norm.bias")))
    np.testing.assert_array_equal(mtt.fill("norm.bias", (5,)),
                                  (0.02 * rng.standard_normal(5)).astype(np.float32))


# ---------------------------------------------------------------------------------------------
# Audio prompts against a reference written from the facts.


def _reference_levels(model, wav: np.ndarray) -> np.ndarray:
    """[1500 x segments, 5, 384]: embedding output, outputs of layers 1-3, layer 4 + final norm."""
    enc = model.whisper
    out = []
    for i in range(0, len(wav), 30 * 16000):
        mel = model.extractor(wav[i:i + 30 * 16000], sampling_rate=16000,
                              return_tensors="np").input_features
        with torch.no_grad():
            x = F.gelu(enc.conv1(torch.from_numpy(mel)))
            x = F.gelu(enc.conv2(x)).permute(0, 2, 1) + enc.embed_positions.weight
            levels = [x]
            for layer in enc.layers:
                x = layer(x, None)
                levels.append(x)
            levels[-1] = enc.layer_norm(x)
        out.append(torch.stack(levels, dim=2)[0].numpy())
    return np.concatenate(out)


@pytest.fixture(scope="module")
def levels3(model, speech3) -> np.ndarray:
    return _reference_levels(model, speech3)


def _reference_prompts(levels: np.ndarray, n: int, fps_num: int, fps_den: int = 1) -> np.ndarray:
    levels = levels[: n * 50 // 16000]                                  # floor(seconds x 50)
    p = math.ceil(50 * fps_den / fps_num)                               # ceil(50 / fps)
    zeros = np.zeros((1, 5, 384), np.float32)
    padded = np.concatenate([zeros] * (2 * p) + [levels] + [zeros] * (6 * p))
    n_frames = n * fps_num // (16000 * fps_den)                          # floor(seconds x fps)
    out = np.zeros((n_frames, 50, 384), np.float32)
    for t in range(n_frames):
        start = t * 50 * fps_den // fps_num                              # floor(t x 50 / fps)
        for k in range(50):                                              # [10, 5, 384] -> [50, 384]
            out[t, k] = padded[start + k // 5, k % 5]
    return out


@pytest.mark.parametrize("fps,num,den", [(25.0, 25, 1), (30.0, 30, 1), (30000 / 1001, 30000, 1001)])
def test_audio_prompts_match_reference(model, speech3, levels3, fps, num, den):
    got = model.audio_prompts(speech3, fps)
    ref = _reference_prompts(levels3, len(speech3), num, den)
    assert got.shape == ref.shape == (len(speech3) * num // (16000 * den), 50, 384)
    assert got.dtype == np.float32
    rel = np.abs(got - ref).max() / np.abs(ref).max()
    assert rel < 1e-4, rel
    assert np.all(got[0, :20] == 0) and np.any(got[0, 20:] != 0)   # frame 0: 2p = 4 zero frames



def test_frame_mapping_stays_in_sync_at_29_97():
    """Ours: frame t reads the speech at t / 29.97 s. The original (int(fps) = 29) drifts."""
    n = 60 * 16000
    n_frames, trim, p, starts = mt.prompt_layout(n, 30000 / 1001)
    assert (n_frames, trim, p) == (1798, 3000, 2)                       # 60 s x 29.97 fps
    t = np.arange(n_frames)
    # the window's centre (start + 5 - 2p in unpadded feature frames) follows t / fps
    centre_s = (starts + mt.WINDOW // 2 - mt.PAD_BEFORE * p) / 50.0
    assert np.abs(centre_s - t * 1001 / 30000).max() <= 0.02 + 1e-9   # within one 20 ms feature
    original = np.floor(t * (50 / 29)).astype(int)
    assert (original - starts)[-1] >= 50                               # 1 s late after a minute
    for fps in (25, 30):                                               # integer rates: identical
        _, _, _, s = mt.prompt_layout(n, float(fps))
        np.testing.assert_array_equal(s, np.floor(np.arange(len(s)) * (50 / fps)).astype(int))


# ---------------------------------------------------------------------------------------------
# Generated faces against a functional reference.


def _reference_generate(model, faces: np.ndarray, prompts: np.ndarray) -> np.ndarray:
    x = faces[..., ::-1] / 255.0                                         # BGR -> RGB, 0..1 (float64)
    x = np.transpose(x, (0, 3, 1, 2)).astype(np.float32)
    masked = x.copy()
    masked[:, :, 128:, :] = 0.0                                          # lower half to zero
    def latents(img):
        img = torch.from_numpy((img - 0.5) / 0.5)
        return model.vae.encode(img).latent_dist.mean * 0.18215
    pos = np.arange(50, dtype=np.float64)[:, None]
    div = np.exp(np.arange(0, 384, 2) * (-math.log(10000.0) / 384))
    pe = np.zeros((50, 384))
    pe[:, 0::2], pe[:, 1::2] = np.sin(pos * div), np.cos(pos * div)
    with torch.no_grad():
        lat = torch.cat([latents(masked), latents(x)], dim=1)
        cond = torch.from_numpy((prompts + pe).astype(np.float32))
        pred = model.unet(lat, torch.tensor([0]), encoder_hidden_states=cond).sample
        img = model.vae.decode(pred / 0.18215).sample
    img = (img / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    return np.round(img * 255).astype(np.uint8)[..., ::-1]


def test_generate_matches_reference(model, speech3, faces):
    prompts = model.audio_prompts(speech3, 25.0)[[3, 20, 41, 70]]
    got = model.generate(faces, prompts)
    ref = _reference_generate(model, faces, prompts)
    assert got.shape == (4, 256, 256, 3) and got.dtype == np.uint8
    diff = np.abs(got.astype(int) - ref.astype(int))
    assert diff.max() <= 2 and diff.mean() < 0.5, (diff.max(), diff.mean())
    # the cached path (latents once, prompts per speech) gives the same faces (up to float
    # summation order)
    lat = model.reference_latents(faces)
    assert lat.shape == (4, 8, 32, 32)
    cached = model.generate_from_latents(lat, prompts)
    assert np.abs(cached.astype(int) - got.astype(int)).max() <= 1
    # the speech drives the output
    other = model.generate_from_latents(lat, model.audio_prompts(speech3, 25.0)[[10, 30, 50, 60]])
    assert np.abs(other.astype(int) - got.astype(int)).mean() > 1.0


def test_reduced_precision_path(models_dir, model, speech3, faces):
    """The CUDA path's casts (bfloat16 here: it runs on CPU too) give the same faces, roughly."""
    half = mt.load_musetalk(models_dir, "cpu", dtype="bfloat16")
    assert mt.load_musetalk(models_dir, "cpu", dtype="bfloat16") is half      # loaded once
    prompts = model.audio_prompts(speech3, 25.0)[[3, 20]]
    lat = half.reference_latents(faces[:2])
    assert lat.dtype == np.float32 and lat.shape == (2, 8, 32, 32)
    got = half.generate_from_latents(lat, prompts)
    ref = model.generate(faces[:2], prompts)
    assert got.dtype == np.uint8 and np.abs(got.astype(int) - ref.astype(int)).mean() < 8


def test_bad_shapes_are_one_line(model, faces):
    from heygem_kernel.errors import InputError
    with pytest.raises(InputError, match=r"faces must be uint8 \[N, 256, 256, 3\]"):
        model.generate(faces[:, :128], np.zeros((4, 50, 384), np.float32))
    with pytest.raises(InputError, match=r"prompts must be \[4, 50, 384\]"):
        model.generate(faces, np.zeros((4, 10, 384), np.float32))


def test_crop_box_from_landmarks():
    pts = np.zeros((68, 2), np.float32)
    pts[:, 0] = np.linspace(100.7, 300.2, 68)
    pts[:, 1] = np.linspace(200.0, 400.9, 68)                           # max y 400
    pts[29] = (200.0, 250.6)                                            # centre line y = 250
    assert mt.crop_box(pts, width=1000, height=1000) == (100, 100, 300, 410)
    assert mt.crop_box(pts, width=1000, height=405) == (100, 100, 300, 405)   # clamped
    pts[29, 1] = 120.0                                                  # half = 280 > y29: top at 0
    assert mt.crop_box(pts, width=1000, height=1000)[1] == 0
    assert mt.crop_box(None, width=10, height=10) is None
    pts[5] = np.nan
    assert mt.crop_box(pts, width=1000, height=1000) is None


# ---------------------------------------------------------------------------------------------
# Missing, truncated and wrong files: one line naming the file.


def _linked_copy(src: Path, dst: Path) -> Path:
    for f in src.rglob("*"):
        if f.is_file():
            (dst / f.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(f, dst / f.relative_to(src))
    return dst


def _break(folder: Path, how: str) -> Path:
    rel = {"missing_unet": "musetalkV15/unet.pth", "missing_pre": "whisper/preprocessor_config.json",
           "truncated_unet": "musetalkV15/unet.pth", "html_whisper": "whisper/pytorch_model.bin",
           "empty_vae": "sd-vae/diffusion_pytorch_model.bin", "wrong_config": "whisper/config.json",
           "bad_json": "musetalkV15/musetalk.json"}[how]
    path = folder / rel
    data = path.read_bytes()
    path.unlink()
    if how == "truncated_unet":
        path.write_bytes(data[: len(data) // 2])
    elif how == "html_whisper":
        path.write_text("<!DOCTYPE html><html><body>Sign in to Hugging Face</body></html>")
    elif how == "empty_vae":
        path.write_bytes(b"")
    elif how == "wrong_config":
        path.write_text(json.dumps({**json.loads(data), "d_model": 512}))
    elif how == "bad_json":
        path.write_text("{not json")
    return path


@pytest.mark.parametrize("how", ["missing_unet", "missing_pre", "truncated_unet", "html_whisper",
                                 "empty_vae", "wrong_config", "bad_json"])
def test_broken_layout_is_named(tmp_path, models_dir, how):
    folder = _linked_copy(models_dir, tmp_path / "models")
    path = _break(folder, how)
    with pytest.raises(CheckpointError) as err:
        mt.check_models_dir(folder)
    msg = str(err.value)
    assert str(path) in msg and "\n" not in msg
    word = {"missing_unet": "missing", "missing_pre": "missing", "truncated_unet": "truncated",
            "html_whisper": "HTML", "empty_vae": "empty", "wrong_config": "d_model 512",
            "bad_json": "not valid JSON"}[how]
    assert word in msg


def test_files_as_downloaded_load_the_same(tmp_path, models_dir, model):
    """sd-vae-ft-mse's .bin uses diffusers' old attention names (query/key/value/proj_attn) and
    openai/whisper-tiny's is a WhisperForConditionalGeneration checkpoint ("model." keys,
    proj_out): both load into the same networks."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration
    folder = _linked_copy(models_dir, tmp_path / "models")
    vae_bin, wh_bin = folder / "sd-vae/diffusion_pytorch_model.bin", folder / "whisper/pytorch_model.bin"
    state = torch.load(vae_bin, weights_only=True)
    old = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}
    legacy = {}
    for k, v in state.items():
        for new, name in old.items():
            if ".attentions." in k and f".{new}." in k:
                k = k.replace(f".{new}.", f".{name}.")
        legacy[k] = v
    assert any(".query." in k for k in legacy)
    vae_bin.unlink()
    torch.save(legacy, vae_bin)
    with torch.device("meta"):
        full = WhisperForConditionalGeneration(WhisperConfig.from_pretrained(str(folder / "whisper")))
    wh_bin.unlink()
    torch.save({k: v for k, v in mtt.deterministic_state(full).items()}, wh_bin)

    loaded = mt.load_musetalk(folder, "cpu")
    for a, b in zip(loaded.vae.state_dict().items(), model.vae.state_dict().items()):
        assert a[0] == b[0] and torch.equal(a[1], b[1])
    w = loaded.whisper.conv1.weight
    np.testing.assert_array_equal(w.numpy(), mtt.fill("model.encoder.conv1.weight", tuple(w.shape)))


def test_wrong_weights_are_named_at_load(tmp_path, models_dir):
    folder = _linked_copy(models_dir, tmp_path / "models")
    (folder / "musetalkV15/unet.pth").unlink()
    shutil.copy(models_dir / "sd-vae/diffusion_pytorch_model.bin", folder / "musetalkV15/unet.pth")
    with pytest.raises(CheckpointError, match="does not hold MuseTalk UNet weights") as err:
        mt.load_musetalk(folder, "cpu")
    assert str(folder / "musetalkV15/unet.pth") in str(err.value)


def test_doctor_lists_sizes_and_sha256(tmp_path, models_dir):
    r = subprocess.run([sys.executable, "-m", "heygem_kernel", "doctor", "--checkpoints", str(tmp_path),
                        "--models-dir", str(models_dir), "--json"],
                       capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert r.returncode == 0, r.stderr[-2000:]
    rows = {f["name"]: f for f in json.loads(r.stdout)["musetalk"]["files"]}
    assert set(rows) == {f.path for f in mt.MODEL_FILES}
    wpath = models_dir / "whisper/pytorch_model.bin"
    assert rows["whisper/pytorch_model.bin"]["size"] == wpath.stat().st_size
    assert rows["whisper/pytorch_model.bin"]["sha256"] == hashlib.sha256(wpath.read_bytes()).hexdigest()
    assert all(f["status"] == "ok" for f in rows.values())

    # the default folder <checkpoints>/musetalk, present but broken: listed, then exit 2
    broken = _linked_copy(models_dir, tmp_path / "ckpt" / "musetalk")
    path = _break(broken, "truncated_unet")
    r = subprocess.run([sys.executable, "-m", "heygem_kernel", "doctor", "--checkpoints",
                        str(tmp_path / "ckpt"), "--no-hash"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert "musetalkV15/unet.pth" in r.stdout and "truncated" in r.stdout       # listed
    errors = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(errors) == 1 and str(path) in errors[0] and "Traceback" not in r.stderr


# ---------------------------------------------------------------------------------------------
# End to end through the CLI on a real clip.


def _cut(src: Path, dst: Path, start: float, seconds: float) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", str(start), "-t", str(seconds), "-i", str(src),
                    "-ac", "1", "-ar", "16000", str(dst)], check=True, timeout=60)
    return dst


def _run(tmp_path, models, audio, video, out, runs):
    return subprocess.run([sys.executable, "-m", "heygem_kernel", "run", "--backend", "musetalk",
                           "--models-dir", str(models), "--device", "cpu", "--audio", str(audio),
                           "--video", str(video), "--out", str(out), "--runs-root", str(runs),
                           "--quiet", "--no-sync-check"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=900,
                          env=dict(os.environ, HEYGEM_CACHE_DIR=str(tmp_path / "hash-cache")))


def _decode(path: Path, n: int) -> np.ndarray:
    import cv2
    cap = cv2.VideoCapture(str(path))
    frames = []
    for _ in range(n):
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return np.stack(frames)


@pytest.mark.slow
def test_cli_run_musetalk_end_to_end(tmp_path, models_dir, clip_590, speech_5s):
    speech_a = _cut(speech_5s, tmp_path / "a.wav", 0.0, 1.2)
    out, runs = tmp_path / "out.mp4", tmp_path / "runs"
    r = _run(tmp_path, models_dir, speech_a, clip_590, out, runs)
    assert r.returncode == 0, r.stderr[-3000:]
    probe = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_streams", "-of", "json", str(out)],
        capture_output=True, text=True, check=True).stdout)
    video = next(s for s in probe["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == (590, 590)
    assert video["r_frame_rate"] == "25/1" and int(video["nb_read_frames"]) == 30

    got, src = _decode(out, 30).astype(int), _decode(clip_590, 30).astype(int)
    diff = np.abs(got - src).mean(axis=(0, 3))                         # [H, W] mean over frames
    assert diff[:100].mean() < 1.5          # far above the mouth: the input (up to H.264 noise)
    assert np.percentile(diff, 99.5) > 15   # the mouth was re-drawn (untrained weights: visibly)
    params = json.loads(next(runs.glob("*/params.json")).read_text())
    assert params["backend"]["backend"] == "musetalk"
    assert params["backend"]["latent_cache_misses"] == 30          # every frame has the face
    # ... and was cached in the run's face-track cache ($HEYGEM_CACHE_DIR set by _run)
    assert list((tmp_path / "hash-cache").glob("musetalk-latents/*/*.npz"))
    assert {f["name"] for f in params["backend"]["files"]} == {f.path for f in mt.MODEL_FILES}


def _template_landmarks(x0: float, y0: float, size: float) -> np.ndarray:
    """A plausible 68-point face in a size x size square (jaw 0-16, nose 27-35, mouth 48-67)."""
    pts = np.zeros((68, 2))
    t = np.linspace(-1, 1, 17)
    pts[:17] = np.stack([0.5 + 0.45 * t, 0.35 + 0.6 * np.sqrt(1 - 0.9 * t ** 2)], 1)
    pts[17:27] = np.stack([np.linspace(0.2, 0.8, 10), np.full(10, 0.3)], 1)
    pts[27:36] = np.stack([np.full(9, 0.5), np.linspace(0.35, 0.6, 9)], 1)
    pts[36:48] = np.stack([np.tile(np.linspace(0.3, 0.7, 6), 2), np.full(12, 0.38)], 1)
    pts[48:68] = np.stack([np.tile(np.linspace(0.38, 0.62, 10), 2), np.full(20, 0.75)], 1)
    return (pts * size + [x0, y0]).astype(np.float32)


def _job(models_dir, frames, speech, cache_dir, fps=25.0):
    from heygem_kernel.backends.base import AudioFeatures, FrameBatch, JobContext
    from heygem_kernel.landmarks import FaceTrack
    from heygem_kernel.options import RunOptions
    lms = [_template_landmarks(150, 120, 300) for _ in frames]
    track = FaceTrack(landmarks=np.stack(lms), valid=np.ones(len(frames), bool), width=590,
                      height=590, fps=fps)
    audio = AudioFeatures(wav=speech, sr=16000, mel=np.zeros((80, 1), np.float32), fps=fps,
                          envelope=np.zeros(len(frames), np.float32), visemes={})
    job = JobContext(audio=audio, track=track, library=None, width=590, height=590,
                     options=RunOptions(backend="musetalk", models_dir=str(models_dir)),
                     cache_dir=cache_dir)
    batch = FrameBatch(frames=list(frames) + [frames[0]], landmarks=lms + [None],
                       out_index=np.arange(len(frames) + 1), src_index=np.arange(len(frames) + 1))
    return job, batch


def test_new_speech_skips_the_vae_encoder(tmp_path, models_dir, clip_590, speech3):
    frames = list(_decode(clip_590, 3))
    backend = mt.MuseTalkBackend(models_dir=models_dir, device="cpu", batch_size=2)
    job, batch = _job(models_dir, frames, speech3[:16000], tmp_path / "cache")
    backend.prepare(job)
    first = backend.synthesize(batch)
    assert first[-1] is None                                    # no face: frame passes through
    box = mt.crop_box(batch.landmarks[0], width=590, height=590)
    assert (first[0].x0, first[0].y0) == box[:2]
    assert first[0].image.shape == (box[3] - box[1], box[2] - box[0], 3)
    assert (backend.cache.hits, backend.cache.misses) == (0, 3)
    prompts = backend.model.audio_prompts(speech3[:16000], 25.0)             # T = 25
    np.testing.assert_array_equal(backend.prompts(np.array([0, 7, 24, 30])), prompts[[0, 7, 24, 24]])

    calls = []
    encode = backend.model.reference_latents
    backend.model.reference_latents = lambda faces: calls.append(len(faces)) or encode(faces)
    try:
        job_b, batch_b = _job(models_dir, frames, speech3[16000:32000], tmp_path / "cache")
        backend.prepare(job_b)                                  # a new speech, same presenter
        second = backend.synthesize(batch_b)
        assert calls == [] and (backend.cache.hits, backend.cache.misses) == (3, 0)
        backend.prepare(job)                                    # the first speech again
        again = backend.synthesize(batch)
    finally:
        backend.model.reference_latents = encode
    assert calls == []
    for a, b in zip(first[:3], again[:3]):                      # cached latents are exact
        np.testing.assert_array_equal(a.image, b.image)
    assert any(np.abs(a.image.astype(int) - b.image.astype(int)).mean() > 1
               for a, b in zip(first[:3], second[:3]))         # and the new speech shows


@pytest.mark.slow
def test_cli_run_missing_file_exits_2(tmp_path, models_dir, clip_590, speech_5s):
    folder = _linked_copy(models_dir, tmp_path / "models")
    path = _break(folder, "missing_pre")
    out = tmp_path / "o.mp4"
    r = _run(tmp_path, folder, _cut(speech_5s, tmp_path / "a.wav", 0.0, 1.0), clip_590, out,
             tmp_path / "runs")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = [l for l in r.stderr.splitlines() if l.startswith("heygem: error")]
    assert len(lines) == 1 and lines[0].startswith("heygem: error: MuseTalk file missing")
    assert str(path) in lines[0] and not out.exists()
    assert "analysis" not in r.stderr            # the models are checked before any heavy work


def test_a_file_of_the_models_folder_loads_that_folder(models_dir):
    """``checkpoint=<models>/musetalkV15/unet.pth`` (a user naming their model by its file) loads <models>."""
    from heygem_kernel import backends
    from heygem_kernel.options import RunOptions
    unet = models_dir / "musetalkV15" / "unet.pth"
    assert backends.check_options(RunOptions(backend="musetalk", checkpoint=str(unet))) == []   # no "ignored"
    backend = mt.MuseTalkBackend(checkpoint=unet, device="cpu")
    assert backend.models_dir == models_dir
    assert backend.model.files["musetalkV15/unet.pth"] == unet
    assert {f["name"] for f in backend.describe()["files"]} == {f.path for f in mt.MODEL_FILES}


def test_a_replaced_model_file_loads_anew(tmp_path, models_dir):
    """The process's model cache (the panel's server, a Dask worker) followed the arguments only:
    new weights copied over unet.pth kept the old model until the process ended."""
    import shutil

    import torch
    from heygem_kernel import backends
    folder = shutil.copytree(models_dir, tmp_path / "models")
    first = backends.create("musetalk", models_dir=str(folder), device="cpu")
    assert backends.create("musetalk", models_dir=str(folder), device="cpu").model is first.model   # loaded once
    unet = folder / "musetalkV15" / "unet.pth"
    state = torch.load(unet, weights_only=True)
    torch.save({k: v * 2 for k, v in state.items()}, tmp_path / "new.pth")
    os.replace(tmp_path / "new.pth", unet)                 # a new file in its place (the old one is mapped)
    os.utime(unet, ns=(unet.stat().st_atime_ns, unet.stat().st_mtime_ns + 10**9))   # coarse clocks: a later date
    again = backends.create("musetalk", models_dir=str(folder), device="cpu")
    assert again.model is not first.model
    name, weight = next((k, v) for k, v in again.model.unet.state_dict().items() if v.abs().sum() > 0)
    torch.testing.assert_close(weight, state[name] * 2)
    torch.testing.assert_close(first.model.unet.state_dict()[name], state[name])   # a running job keeps its own
