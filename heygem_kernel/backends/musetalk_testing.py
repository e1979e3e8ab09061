"""Deterministic MuseTalk weights in the official ``models/`` layout, for tests and benchmarks.

Never for real use: the networks are untrained. Every tensor is filled from numpy's PCG64
seeded by the crc32 of its state-dict key (the rule of ``shared/spec/musetalk_inputs``):
N(0,1)/sqrt(fan_in) for tensors of two or more dimensions, 1 + 0.1 N(0,1) for 1-D weights,
0.02 N(0,1) for other 1-D tensors. ``size="official"`` writes the released shapes (the UNet
alone is 3.4 GB in float32); ``size="tiny"`` shrinks the block widths (a few MB) but keeps
what the interface fixes: 8 input channels, cross-attention width 384, whisper-tiny's
encoder (5 levels of 384).
"""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np

# The released musetalkV15/musetalk.json.
OFFICIAL_UNET_CONFIG = {
    "_class_name": "UNet2DConditionModel", "_diffusers_version": "0.6.0.dev0", "act_fn": "silu",
    "attention_head_dim": 8, "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False, "cross_attention_dim": 384,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                         "DownBlock2D"],
    "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 8,
    "layers_per_block": 2, "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32,
    "out_channels": 4, "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}
# stabilityai/sd-vae-ft-mse config.json (MuseTalk's sd-vae/).
OFFICIAL_VAE_CONFIG = {
    "_class_name": "AutoencoderKL", "_diffusers_version": "0.4.2", "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512], "down_block_types": ["DownEncoderBlock2D"] * 4,
    "in_channels": 3, "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32,
    "out_channels": 3, "sample_size": 256, "up_block_types": ["UpDecoderBlock2D"] * 4,
}
# openai/whisper-tiny config.json (the fields that shape the network).
OFFICIAL_WHISPER_CONFIG = {
    "model_type": "whisper", "architectures": ["WhisperForConditionalGeneration"],
    "activation_function": "gelu", "d_model": 384, "encoder_layers": 4, "encoder_attention_heads": 6,
    "encoder_ffn_dim": 1536, "decoder_layers": 4, "decoder_attention_heads": 6, "decoder_ffn_dim": 1536,
    "num_mel_bins": 80, "max_source_positions": 1500, "max_target_positions": 448,
    "vocab_size": 51865, "scale_embedding": False, "pad_token_id": 50257, "bos_token_id": 50257,
    "eos_token_id": 50257, "decoder_start_token_id": 50258,
}

TINY_UNET = {"block_out_channels": [32, 64, 64, 64], "layers_per_block": 1}
TINY_VAE = {"block_out_channels": [8, 8, 8, 8], "layers_per_block": 1, "norm_num_groups": 4}
TINY_WHISPER = {"encoder_ffn_dim": 64, "decoder_layers": 1, "decoder_ffn_dim": 64, "vocab_size": 64, "max_target_positions": 8,
                "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2, "decoder_start_token_id": 3}


def fill(key: str, shape: tuple[int, ...]) -> np.ndarray:
    """The deterministic value of one tensor (float32), from its key and shape only."""
    rng = np.random.Generator(np.random.PCG64(zlib.crc32(key.encode("utf-8"))))
    x = rng.standard_normal(shape)
    if len(shape) >= 2:
        x = x / np.sqrt(float(np.prod(shape[1:])))
    elif len(shape) == 1 and key.endswith("weight"):
        x = 1.0 + 0.1 * x
    else:
        x = 0.02 * x
    return x.astype(np.float32)


def deterministic_state(module) -> dict:
    """{key: tensor} for every entry of ``module.state_dict()`` (meta tensors allowed)."""
    import torch
    return {k: torch.from_numpy(fill(k, tuple(v.shape))) for k, v in module.state_dict().items()}


def write_models_dir(folder: str | Path, *, size: str = "tiny") -> Path:
    """Write musetalkV15/{unet.pth, musetalk.json}, sd-vae/{config.json,
    diffusion_pytorch_model.bin} and whisper/{config.json, pytorch_model.bin,
    preprocessor_config.json} under ``folder``; returns ``folder``."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    if size not in ("tiny", "official"):
        raise ValueError(f"size must be 'tiny' or 'official', got {size!r}")
    tiny = size == "tiny"
    folder = Path(folder)
    for sub in ("musetalkV15", "sd-vae", "whisper"):
        (folder / sub).mkdir(parents=True, exist_ok=True)

    unet_cfg = {**OFFICIAL_UNET_CONFIG, **(TINY_UNET if tiny else {})}
    (folder / "musetalkV15" / "musetalk.json").write_text(json.dumps(unet_cfg, indent=2))
    with torch.device("meta"):
        unet = UNet2DConditionModel(**{k: v for k, v in unet_cfg.items() if not k.startswith("_")})
    torch.save(deterministic_state(unet), folder / "musetalkV15" / "unet.pth")
    del unet

    vae_cfg = {**OFFICIAL_VAE_CONFIG, **(TINY_VAE if tiny else {})}
    (folder / "sd-vae" / "config.json").write_text(json.dumps(vae_cfg, indent=2))
    with torch.device("meta"):
        vae = AutoencoderKL(**{k: v for k, v in vae_cfg.items() if not k.startswith("_")})
    torch.save(deterministic_state(vae), folder / "sd-vae" / "diffusion_pytorch_model.bin")

    wcfg = WhisperConfig(**{**OFFICIAL_WHISPER_CONFIG, **(TINY_WHISPER if tiny else {})})
    wcfg.save_pretrained(str(folder / "whisper"))
    with torch.device("meta"):
        whisper = WhisperModel(wcfg)
    torch.save(deterministic_state(whisper), folder / "whisper" / "pytorch_model.bin")
    WhisperFeatureExtractor(feature_size=80, sampling_rate=16000).save_pretrained(str(folder / "whisper"))
    return folder


__all__ = ["OFFICIAL_UNET_CONFIG", "OFFICIAL_VAE_CONFIG", "OFFICIAL_WHISPER_CONFIG",
           "deterministic_state", "fill", "write_models_dir"]
