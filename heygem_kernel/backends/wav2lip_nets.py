"""Wav2Lip-compatible networks: the generator and the expert lip-sync discriminator.

Built from the layer tables of the format spec (``shared/spec/wav2lip.md`` sections 0-2), with
module names chosen so that ``state_dict()`` keys equal those of the official files
(``face_encoder_blocks.3.0.conv_block.0.weight`` ...) and official checkpoints load strictly.

Tensors are NCHW float; images are BGR in [0, 1]; a mel window is 80 bins x 16 steps (0.2 s).
This module imports torch at import time: import it lazily (``heygem_kernel.backends.wav2lip``
does).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

FACE_SIZE = 96            # the released models were trained on 96x96 face crops only
MEL_BINS, MEL_STEPS = 80, 16   # 16 mel steps at 80 steps/s = 0.2 s = 5 frames at 25 fps
SYNC_FRAMES = 5           # the expert looks at 5 consecutive lower-half crops
EMBED_DIM = 512

GENERATOR_PARAMS = 36_298_035   # spec 1.6
GENERATOR_KEYS = 352            # 50 BN units x 7 tensors + output_block.1 weight/bias
SYNCNET_PARAMS = 16_435_072     # spec 2.3
SYNCNET_KEYS = 217              # 31 BN units x 7 tensors


class ConvBN(nn.Module):
    """Conv2d (bias) -> BatchNorm2d -> [+ input] -> ReLU (the residual joins before the ReLU)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride=1, padding=0,
                 residual: bool = False) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, padding),
                                        nn.BatchNorm2d(cout))
        self.act = nn.ReLU()
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_block(x)
        if self.residual:
            out = out + x
        return self.act(out)


class DeconvBN(nn.Module):
    """ConvTranspose2d (bias, output_padding) -> BatchNorm2d -> ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, padding: int,
                 output_padding: int = 0) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ConvTranspose2d(cin, cout, kernel, stride, padding, output_padding),
            nn.BatchNorm2d(cout))
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv_block(x))


def _res(c: int) -> ConvBN:
    """Residual 3x3 unit that keeps the channel count and size."""
    return ConvBN(c, c, 3, 1, 1, residual=True)


def _audio_encoder(extra_residual_256: bool) -> nn.Sequential:
    """Mel window [N,1,80,16] -> [N,512,1,1]; strides are (mel bins, time)."""
    units = [ConvBN(1, 32, 3, 1, 1), _res(32), _res(32),
             ConvBN(32, 64, 3, (3, 1), 1), _res(64), _res(64),        # 64 x 27 x 16
             ConvBN(64, 128, 3, 3, 1), _res(128), _res(128),           # 128 x 9 x 6
             ConvBN(128, 256, 3, (3, 2), 1), _res(256)]                # 256 x 3 x 3
    if extra_residual_256:                     # the expert has one more 256 unit (spec 2.3)
        units.append(_res(256))
    units += [ConvBN(256, 512, 3, 1, 0), ConvBN(512, 512, 1, 1, 0)]    # 512 x 1 x 1
    return nn.Sequential(*units)


class Wav2LipGenerator(nn.Module):
    """The Wav2Lip generator (spec section 1).

    forward(audio [N,1,80,16], face [N,6,96,96]) -> [N,3,96,96] BGR in [0,1].
    face channels 0-2: the target crop with rows 48-95 zeroed; 3-5: the reference crop.
    The training layout (audio [B,T,1,80,16], face [B,6,T,96,96]) is accepted too and returns
    [B,3,T,96,96] (time folded into the batch time-major, as the original does).
    """

    def __init__(self) -> None:
        super().__init__()
        self.face_encoder_blocks = nn.ModuleList([
            nn.Sequential(ConvBN(6, 16, 7, 1, 3)),                                  # F0 16x96
            nn.Sequential(ConvBN(16, 32, 3, 2, 1), _res(32), _res(32)),              # F1 32x48
            nn.Sequential(ConvBN(32, 64, 3, 2, 1), _res(64), _res(64), _res(64)),    # F2 64x24
            nn.Sequential(ConvBN(64, 128, 3, 2, 1), _res(128), _res(128)),           # F3 128x12
            nn.Sequential(ConvBN(128, 256, 3, 2, 1), _res(256), _res(256)),          # F4 256x6
            nn.Sequential(ConvBN(256, 512, 3, 2, 1), _res(512)),                     # F5 512x3
            nn.Sequential(ConvBN(512, 512, 3, 1, 0), ConvBN(512, 512, 1, 1, 0)),     # F6 512x1
        ])
        self.audio_encoder = _audio_encoder(extra_residual_256=False)
        # Each decoder block's output is concatenated (output first) with the encoder
        # feature of the same size, deepest first, hence the in-channel counts below.
        self.face_decoder_blocks = nn.ModuleList([
            nn.Sequential(ConvBN(512, 512, 1, 1, 0)),                                # +F6 1024x1
            nn.Sequential(DeconvBN(1024, 512, 3, 1, 0), _res(512)),                  # +F5 1024x3
            nn.Sequential(DeconvBN(1024, 512, 3, 2, 1, 1), _res(512), _res(512)),    # +F4 768x6
            nn.Sequential(DeconvBN(768, 384, 3, 2, 1, 1), _res(384), _res(384)),     # +F3 512x12
            nn.Sequential(DeconvBN(512, 256, 3, 2, 1, 1), _res(256), _res(256)),     # +F2 320x24
            nn.Sequential(DeconvBN(320, 128, 3, 2, 1, 1), _res(128), _res(128)),     # +F1 160x48
            nn.Sequential(DeconvBN(160, 64, 3, 2, 1, 1), _res(64), _res(64)),        # +F0 80x96
        ])
        self.output_block = nn.Sequential(ConvBN(80, 32, 3, 1, 1),
                                          nn.Conv2d(32, 3, 1, 1, 0), nn.Sigmoid())

    def forward(self, audio: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
        if face.dim() == 5:                       # training layout: fold T time-major
            b, t = audio.shape[0], audio.shape[1]
            audio = torch.cat([audio[:, i] for i in range(t)], dim=0)
            face = torch.cat([face[:, :, i] for i in range(t)], dim=0)
            out = self.generate(audio, face)
            return torch.stack(torch.split(out, b, dim=0), dim=2)
        return self.generate(audio, face)

    def generate(self, audio: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
        """The 4-D path: audio [N,1,80,16], face [N,6,96,96] -> [N,3,96,96]."""
        x = self.audio_encoder(audio)
        skips = []
        feat = face
        for block in self.face_encoder_blocks:
            feat = block(feat)
            skips.append(feat)
        for block in self.face_decoder_blocks:
            x = torch.cat([block(x), skips.pop()], dim=1)
        return self.output_block(x)


class SyncNetColor(nn.Module):
    """The expert lip-sync discriminator ``SyncNet_color`` (spec section 2).

    forward(audio [N,1,80,16], face [N,15,48,96]) -> (audio_emb [N,512], face_emb [N,512]),
    both L2-normalised and non-negative; face = lower halves of 5 consecutive 96x96 BGR
    crops stacked frame-major on channels. Sync probability = cosine of the two embeddings.
    """

    def __init__(self) -> None:
        super().__init__()
        self.face_encoder = nn.Sequential(
            ConvBN(15, 32, 7, 1, 3),
            ConvBN(32, 64, 5, (1, 2), 1), _res(64), _res(64),                 # 64 x 46 x 47
            ConvBN(64, 128, 3, 2, 1), _res(128), _res(128), _res(128),        # 128 x 23 x 24
            ConvBN(128, 256, 3, 2, 1), _res(256), _res(256),                  # 256 x 12 x 12
            ConvBN(256, 512, 3, 2, 1), _res(512), _res(512),                  # 512 x 6 x 6
            ConvBN(512, 512, 3, 2, 1),                                        # 512 x 3 x 3
            ConvBN(512, 512, 3, 1, 0), ConvBN(512, 512, 1, 1, 0))             # 512 x 1 x 1
        self.audio_encoder = _audio_encoder(extra_residual_256=True)

    def forward(self, audio: torch.Tensor, face: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.audio_encoder(audio).flatten(1)
        f = self.face_encoder(face).flatten(1)
        return F.normalize(a, p=2, dim=1), F.normalize(f, p=2, dim=1)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
