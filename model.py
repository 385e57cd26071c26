"""ViNet and AViNet: an S3D encoder, an optional SoundNet8 audio branch, and a decoder of 3D
convolutions and trilinear upsampling that fuses four encoder hierarchies. ViNet++ (the authors'
successor): ViNet-S (the same class, a grouped decoder), ViNet-A (a SlowFast-R50 encoder) and the
ViNet-E ensemble of the two.

The module names reproduce the original implementation's state-dict layout (github
samyak0210/ViNet), so its checkpoints load with strict=True. This file holds the networks only (edit
it to swap fusion); registry.py names them (MODELS: builder, input contract, the seed's flags) and
weights.py reads, converts and loads their weight files.
"""
import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from utils import CLIP_LENGTH, FRAME_SIZE, audio_buffer_length

# ----------------------------------------------------------------------------------------------
# S3D encoder (the Kinetics-400 action-recognition network of TASED-Net and torchvision)


def _batchnorm(channels: int) -> nn.BatchNorm3d:
    return nn.BatchNorm3d(channels, eps=1e-3, momentum=1e-3)


class BasicConv3d(nn.Module):
    """Convolution, batch norm, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1,
                 padding: int = 0):
        super().__init__()
        self.conv = nn.Conv3d(in_channels, out_channels, kernel_size, stride, padding, bias=False)
        self.bn = _batchnorm(out_channels)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class SepConv3d(nn.Module):
    """A k x k x k convolution factored into a spatial (1 x k x k) and a temporal (k x 1 x 1) one."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0):
        super().__init__()
        k, s, p = kernel_size, stride, padding
        self.conv_s = nn.Conv3d(in_channels, out_channels, (1, k, k), (1, s, s), (0, p, p), bias=False)
        self.bn_s = _batchnorm(out_channels)
        self.relu_s = nn.ReLU()
        self.conv_t = nn.Conv3d(out_channels, out_channels, (k, 1, 1), (s, 1, 1), (p, 0, 0), bias=False)
        self.bn_t = _batchnorm(out_channels)
        self.relu_t = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu_s(self.bn_s(self.conv_s(x)))
        return self.relu_t(self.bn_t(self.conv_t(x)))


class Mixed(nn.Module):
    """S3D's separable inception block: four branches concatenated along channels."""

    def __init__(self, in_channels: int, out0: int, mid1: int, out1: int, mid2: int, out2: int, out3: int):
        super().__init__()
        self.branch0 = nn.Sequential(BasicConv3d(in_channels, out0))
        self.branch1 = nn.Sequential(BasicConv3d(in_channels, mid1), SepConv3d(mid1, out1, 3, padding=1))
        self.branch2 = nn.Sequential(BasicConv3d(in_channels, mid2), SepConv3d(mid2, out2, 3, padding=1))
        self.branch3 = nn.Sequential(nn.MaxPool3d(3, stride=1, padding=1), BasicConv3d(in_channels, out3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)], 1)


# (in, branch0, branch1 reduce/out, branch2 reduce/out, branch3) of S3D's inception blocks.
INCEPTION_3 = [(192, 64, 96, 128, 16, 32, 32), (256, 128, 128, 192, 32, 96, 64)]
INCEPTION_4 = [(480, 192, 96, 208, 16, 48, 64), (512, 160, 112, 224, 24, 64, 64),
               (512, 128, 128, 256, 24, 64, 64), (512, 112, 144, 288, 32, 64, 64),
               (528, 256, 160, 320, 32, 128, 128)]
INCEPTION_5 = [(832, 256, 160, 320, 32, 128, 128), (832, 384, 192, 384, 48, 128, 128)]


class S3DEncoder(nn.Module):
    """S3D up to Mixed_5c, returning the four hierarchies [y0, y1, y2, y3], deepest first.

    For a (B, 3, T, H, W) clip: y0 (B, 1024, T/8, H/32, W/32), y1 (B, 832, T/4, H/16, W/16),
    y2 (B, 480, T/2, H/8, W/8), y3 (B, 192, T/2, H/4, W/4).
    """

    def __init__(self):
        super().__init__()
        self.base1 = nn.Sequential(
            SepConv3d(3, 64, 7, stride=2, padding=3),
            nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            BasicConv3d(64, 64),
            SepConv3d(64, 192, 3, padding=1),
        )
        self.maxp2 = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        self.base2 = nn.Sequential(*(Mixed(*widths) for widths in INCEPTION_3))
        self.maxp3 = nn.MaxPool3d(3, stride=2, padding=1)
        self.base3 = nn.Sequential(*(Mixed(*widths) for widths in INCEPTION_4))
        self.maxt4 = nn.MaxPool3d((2, 1, 1), stride=(2, 1, 1))
        self.maxp4 = nn.MaxPool3d((1, 2, 2), stride=(1, 2, 2))
        self.base4 = nn.Sequential(*(Mixed(*widths) for widths in INCEPTION_5))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        y3 = self.base1(x)
        y2 = self.base2(self.maxp2(y3))
        y1 = self.base3(self.maxp3(y2))
        y0 = self.base4(self.maxp4(self.maxt4(y1)))
        return [y0, y1, y2, y3]


def encoder_grid(clip_length: int, frame_size: tuple[int, int]) -> tuple[int, int, int]:
    """The (T, H, W) size of the deepest encoder hierarchy y0 for clips of clip_length x frame_size."""
    def out(n: int, kernel: int, stride: int, padding: int) -> int:
        return (n + 2 * padding - kernel) // stride + 1

    t, (h, w) = clip_length, frame_size
    t = out(t, 7, 2, 3)                                  # base1's strided separable conv
    h, w = out(h, 7, 2, 3), out(w, 7, 2, 3)
    for _ in range(2):                                   # base1's and maxp2's spatial pools
        h, w = out(h, 3, 2, 1), out(w, 3, 2, 1)
    t, h, w = out(t, 3, 2, 1), out(h, 3, 2, 1), out(w, 3, 2, 1)  # maxp3
    return out(t, 2, 2, 0), out(h, 2, 2, 0), out(w, 2, 2, 0)     # maxt4 and maxp4


# ----------------------------------------------------------------------------------------------
# Decoder: 3D convolutions that shrink time while trilinear upsampling doubles space; each stage
# concatenates one encoder hierarchy along the time axis. ViNet-S (ViNet++) groups its convolutions.

VINET_S_GROUPS = (32, 16, 8, 4, 2)  # ViNet-S: groups of convtsp1, convtsp2, convtsp3, convtsp4.0, convtsp4.3


@dataclass(frozen=True)
class DecoderLayout:
    """Temporal kernels (equal to the strides) of the decoder's convolutions for one variant, and how its
    3x3 convolutions are factored: in groups (ViNet-S) or as a depthwise and a 1x1 convolution."""

    stage_kernels: tuple[int, int, int]   # convtsp2, convtsp3, convtsp4.0: fold in y1, y2, y3
    final_kernel: int                     # convtsp4.3
    head_kernel: int                      # an extra (k, 1, 1) convolution before the output; 1: none
    head_bias: bool
    groups: tuple[int, int, int, int, int] = (1, 1, 1, 1, 1)   # convtsp1, 2, 3, 4.0, 4.3
    depthwise: bool = False


def decoder_layout(clip_length: int, num_hier: int, groups: tuple[int, ...] = (1, 1, 1, 1, 1),
                   depthwise: bool = False) -> DecoderLayout:
    """Derive the original's decoder for a clip length and number of fused hierarchies.

    Each skip stage sees T/8 frames plus the hierarchy's frames and reduces them back to T/8;
    the last two convolutions reduce T/8 to one frame.
    """
    if clip_length % 8 or clip_length < 8:
        raise ValueError(f"num_clips must be a multiple of 8 (8, 16, 32, 48), got {clip_length}")
    if num_hier not in (0, 1, 2, 3):
        raise ValueError(f"num_hier must be 0, 1, 2 or 3, got {num_hier}")
    deep = clip_length // 8
    skip_lengths = (clip_length // 4, clip_length // 2, clip_length // 2)
    stage_kernels = tuple((deep + n) // deep if i < num_hier else 1 for i, n in enumerate(skip_lengths))
    final_kernel = 2 if deep % 2 == 0 else 1
    # The original's 48-frame decoder is the one whose extra temporal convolution has a bias.
    return DecoderLayout(stage_kernels, final_kernel, deep // final_kernel, clip_length == 48, tuple(groups), depthwise)


def _conv_relu_upsample(in_channels: int, out_channels: int, temporal_kernel: int, groups: int = 1,
                        depthwise: bool = False) -> list[nn.Module]:
    """A (k, 3, 3) convolution of temporal stride k (grouped, or depthwise then 1x1), ReLU, 2x spatial upsampling."""
    shape = {"kernel_size": (temporal_kernel, 3, 3), "stride": (temporal_kernel, 1, 1), "padding": (0, 1, 1)}
    if depthwise:
        convolution = [nn.Conv3d(in_channels, in_channels, groups=in_channels, bias=False, **shape), nn.ReLU(),
                       nn.Conv3d(in_channels, out_channels, 1, bias=False)]
    else:
        convolution = [nn.Conv3d(in_channels, out_channels, groups=groups, bias=False, **shape)]
    return [*convolution, nn.ReLU(), nn.Upsample(scale_factor=(1, 2, 2), mode="trilinear")]


class SaliencyDecoder(nn.Module):
    """Fuses y0 with the hierarchies y1..y3 it is given into a (B, H, W) map in [0, 1]."""

    def __init__(self, layout: DecoderLayout):
        super().__init__()
        k2, k3, k4 = layout.stage_kernels
        g1, g2, g3, g4, g5 = layout.groups
        depthwise = layout.depthwise
        self.convtsp1 = nn.Sequential(*_conv_relu_upsample(1024, 832, 1, g1, depthwise))
        self.convtsp2 = nn.Sequential(*_conv_relu_upsample(832, 480, k2, g2, depthwise))
        self.convtsp3 = nn.Sequential(*_conv_relu_upsample(480, 192, k3, g3, depthwise))
        head = []
        if layout.head_kernel > 1:
            k = layout.head_kernel
            head = [nn.Conv3d(32, 32, (k, 1, 1), stride=(k, 1, 1), bias=layout.head_bias), nn.ReLU()]
        self.convtsp4 = nn.Sequential(
            *_conv_relu_upsample(192, 64, k4, g4, depthwise),
            *_conv_relu_upsample(64, 32, layout.final_kernel, g5, depthwise),
            *head,
            nn.Conv3d(32, 1, 1, bias=True),
            nn.Sigmoid(),
        )

    def forward(self, y0: torch.Tensor, *skips: torch.Tensor) -> torch.Tensor:
        z = self.convtsp1(y0)
        for i, stage in enumerate((self.convtsp2, self.convtsp3, self.convtsp4)):
            if i < len(skips):
                z = torch.cat((z, skips[i]), 2)
            z = stage(z)
        return z[:, 0, 0]


# ----------------------------------------------------------------------------------------------
# SoundNet8 (Aytar et al.), the audio branch: a 1-D convolution stack over the raw waveform,
# stored as 2-D convolutions over a (B, 1, L, 1) tensor as in the released weights.

SOUNDNET_LAYERS = [  # (out channels, kernel, stride, padding, max-pool after it)
    (16, 64, 2, 32, 8), (32, 32, 2, 16, 8), (64, 16, 2, 8, 1), (128, 8, 2, 4, 1),
    (256, 4, 2, 2, 4), (512, 4, 2, 2, 1), (1024, 4, 2, 2, 1),
]


class SoundNet(nn.Module):
    """SoundNet8 up to conv7: (B, 1, L, 1) waveform -> (B, 1024, L', 1) features.

    conv8_objs / conv8_scns (the object and scene classifiers) are kept so that
    soundnet8_final.pth and the AViNet checkpoints load strictly; the saliency models do not use them.
    """

    def __init__(self):
        super().__init__()
        in_channels = 1
        for i, (out_channels, kernel, stride, padding, pool) in enumerate(SOUNDNET_LAYERS, start=1):
            setattr(self, f"conv{i}", nn.Conv2d(in_channels, out_channels, (kernel, 1), (stride, 1), (padding, 0)))
            setattr(self, f"batchnorm{i}", nn.BatchNorm2d(out_channels, eps=1e-5, momentum=0.1))
            setattr(self, f"relu{i}", nn.ReLU())
            if pool > 1:
                setattr(self, f"maxpool{i}", nn.MaxPool2d((pool, 1), stride=(pool, 1)))
            in_channels = out_channels
        self.conv8_objs = nn.Conv2d(1024, 1000, (8, 1), (2, 1))
        self.conv8_scns = nn.Conv2d(1024, 401, (8, 1), (2, 1))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        x = waveform
        for name, layer in self.named_children():  # registered in the order they apply
            if name.startswith("conv8"):
                break
            x = layer(x)
        return x

    @staticmethod
    def output_length(num_samples: int) -> int:
        """Time steps of the conv7 features for a waveform of num_samples (3 for 70,560)."""
        n = num_samples
        for _, kernel, stride, padding, pool in SOUNDNET_LAYERS:
            n = (n + 2 * padding - kernel) // stride + 1
            n //= pool
        return n


# ----------------------------------------------------------------------------------------------
# Token transformer used by the transformer fusion variants.


class PositionalEncoding(nn.Module):
    """Adds a (num_tokens, 1, dim) table of positions; sinusoidal at init, saved in checkpoints."""

    def __init__(self, dim: int, num_tokens: int):
        super().__init__()
        position = torch.arange(num_tokens, dtype=torch.float).unsqueeze(1)
        frequency = torch.exp(torch.arange(0, dim, 2).float() * (-math.log(10000.0) / dim))
        pe = torch.zeros(num_tokens, dim)
        pe[:, 0::2] = torch.sin(position * frequency)
        pe[:, 1::2] = torch.cos(position * frequency)
        self.register_buffer("pe", pe.unsqueeze(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pe


class TokenTransformer(nn.Module):
    """A post-norm transformer encoder over (num_tokens, B, dim) with learned-at-init positions."""

    def __init__(self, dim: int, num_tokens: int, nhead: int, num_layers: int):
        super().__init__()
        if dim % nhead or dim % 2:
            raise ValueError(f"transformer width {dim} must be even and divisible by nhead={nhead}")
        self.pos_encoder = PositionalEncoding(dim, num_tokens)
        layer = nn.TransformerEncoderLayer(dim, nhead, dim_feedforward=dim)
        self.transformer_encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.transformer_encoder(self.pos_encoder(tokens))


# ----------------------------------------------------------------------------------------------
# The models


class VideoSaliencyModel(nn.Module):
    """ViNet: (B, 3, T, H, W) clip -> (B, H, W) saliency of its last frame, in [0, 1].

    num_clips: frames per clip (8, 16, 32, 48); num_hier: encoder hierarchies fused by the decoder
    besides the deepest (0-3). transformer_in_channel and nhead are accepted for the original's
    signature; ViNet has no transformer. H and W must be multiples of 32. ViNet++'s arguments:
    grouped_conv=True groups the decoder's convolutions (ViNet-S: VINET_S_GROUPS; root_grouping=False
    leaves the first ungrouped) and depth=True makes each a depthwise and a 1x1 convolution.
    """

    SIGNATURE_ONLY = ("transformer_in_channel", "nhead")   # the original's arguments that ViNet never uses

    def __init__(self, transformer_in_channel: int = 32, nhead: int = 4, use_upsample: bool = True,
                 num_hier: int = 3, num_clips: int = CLIP_LENGTH, grouped_conv: bool = False,
                 root_grouping: bool = True, depth: bool = False):
        super().__init__()
        if not use_upsample:
            raise ValueError("use_upsample=False (the transposed-convolution decoder) was never released; "
                             "use the trilinear-upsampling decoder")
        self.num_hier = num_hier
        self.num_clips = num_clips
        self.backbone = S3DEncoder()
        groups = VINET_S_GROUPS if grouped_conv and not depth else (1, 1, 1, 1, 1)
        groups = groups if root_grouping else (1, *groups[1:])
        self.decoder = SaliencyDecoder(decoder_layout(num_clips, num_hier, groups, depth))

    def check_clip(self, clip: torch.Tensor) -> None:
        """Raise a ValueError naming the expected shape unless clip is (B, 3, num_clips, 32k, 32m)."""
        if clip.dim() != 5 or clip.shape[1] != 3 or clip.shape[2] != self.num_clips \
                or clip.shape[3] % 32 or clip.shape[4] % 32:
            raise ValueError(f"{type(self).__name__} expects clips of shape (B, 3, {self.num_clips}, H, W) "
                             f"with H and W multiples of 32, got {tuple(clip.shape)}")

    def decode(self, y0: torch.Tensor, hierarchies: list[torch.Tensor]) -> torch.Tensor:
        """Run the decoder on y0 and the encoder's [y1, y2, y3], fusing num_hier of them."""
        return self.decoder(y0, *hierarchies[:self.num_hier])

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        self.check_clip(clip)
        y0, *hierarchies = self.backbone(clip)
        return self.decode(y0, hierarchies)


class _AudioVisualModel(nn.Module):
    """Shared parts of the AViNet variants: the visual ViNet, the fusion grid and the input checks."""

    def __init__(self, use_upsample: bool, num_hier: int, num_clips: int, frame_size: tuple[int, int]):
        super().__init__()
        self.visual_model = VideoSaliencyModel(use_upsample=use_upsample, num_hier=num_hier, num_clips=num_clips)
        self.frame_size = tuple(frame_size)
        self.grid = encoder_grid(num_clips, self.frame_size)
        self.audio_samples = audio_buffer_length(num_clips)
        self.audio_steps = SoundNet.output_length(self.audio_samples)

    def check_inputs(self, clip: torch.Tensor, audio: torch.Tensor) -> None:
        """Raise a ValueError naming the expected shapes unless clip and audio fit this model."""
        num_clips = self.visual_model.num_clips
        expected = (3, num_clips, *self.frame_size)
        if clip.dim() != 5 or tuple(clip.shape[1:]) != expected:
            raise ValueError(f"{type(self).__name__} was built for clips of shape (B, {', '.join(map(str, expected))}) "
                             f"(num_clips={num_clips}, frame_size={self.frame_size}), got {tuple(clip.shape)}; "
                             "build it with the frame_size of your clips or resize the frames")
        expected_audio = (clip.shape[0], 1, self.audio_samples, 1)
        if tuple(audio.shape) != expected_audio:
            raise ValueError(f"{type(self).__name__} expects audio of shape {expected_audio}, got {tuple(audio.shape)}")

    def _bilinear_sizes(self) -> tuple[int, int]:
        """Inputs of the bilinear fusion: pooled video cells (maxpool of y0) and audio time steps."""
        t, h, w = self.grid
        if t < 4:
            raise ValueError(f"audio-visual fusion needs clips of 32 frames or more, got {self.visual_model.num_clips}")
        return ((t - 4) // 2 + 1) * h * ((w - 1) // 2 + 1), self.audio_steps


class VideoAudioSaliencyModel(_AudioVisualModel):
    """AViNet: SoundNet8 features fused with S3D's deepest features by a bilinear layer.

    With use_transformer=True the fused features pass a transformer whose tokens are
    transformer_in_channel channel groups. frame_size (H, W) fixes the fusion grid (4x7x12 for the
    published 32x224x384 clips); inputs of another shape are refused with the expected shape.
    Inputs: clip (B, 3, T, H, W) and audio (B, 1, L, 1) from utils.audio_buffer_length(T).
    """

    def __init__(self, use_transformer: bool = False, transformer_in_channel: int = 32,
                 num_encoder_layers: int = 3, nhead: int = 4, use_upsample: bool = True,
                 num_hier: int = 3, num_clips: int = CLIP_LENGTH, frame_size: tuple[int, int] = FRAME_SIZE):
        super().__init__(use_upsample, num_hier, num_clips, frame_size)
        self.use_transformer = use_transformer
        grid_cells = math.prod(self.grid)
        if use_transformer:
            self.conv_in_1x1 = nn.Conv3d(1024, transformer_in_channel, 1)
            self.conv_out_1x1 = nn.Conv3d(transformer_in_channel, 1024, 1)
            self.transformer = TokenTransformer(grid_cells, transformer_in_channel, nhead, num_encoder_layers)
        self.audionet = SoundNet()
        self.maxpool = nn.MaxPool3d((4, 1, 1), stride=(2, 1, 2))
        self.bilinear = nn.Bilinear(*self._bilinear_sizes(), grid_cells)

    def forward(self, clip: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        self.check_inputs(clip, audio)
        sound = self.audionet(audio).flatten(2)
        y0, *hierarchies = self.visual_model.backbone(clip)
        dtype = self.bilinear.weight.dtype   # autocast leaves nn.Bilinear's inputs as they come: fp32 and bf16
        fused = self.bilinear(self.maxpool(y0).flatten(2).to(dtype), sound.to(dtype)).unflatten(2, self.grid)
        if self.use_transformer:
            tokens = self.conv_in_1x1(fused).flatten(2).transpose(0, 1)
            fused = self.conv_out_1x1(self.transformer(tokens).transpose(0, 1).unflatten(2, self.grid))
        return self.visual_model.decode(fused, hierarchies)


class VideoAudioSaliencyFusionModel(_AudioVisualModel):
    """AViNet with token-transformer fusion: the video grid cells and SoundNet's time steps are
    tokens of one transformer; the video tokens and the mean audio token feed the decoder.

    transformer_in_channel is the token width (512, so that video + audio give the decoder's 1024
    channels). `bilinear` is unused but kept: the original's checkpoints hold it.
    """

    def __init__(self, use_transformer: bool = True, transformer_in_channel: int = 512,
                 num_encoder_layers: int = 3, nhead: int = 4, use_upsample: bool = True,
                 num_hier: int = 3, num_clips: int = CLIP_LENGTH, frame_size: tuple[int, int] = FRAME_SIZE):
        super().__init__(use_upsample, num_hier, num_clips, frame_size)
        if 2 * transformer_in_channel != 1024:
            raise ValueError("VideoAudioSaliencyFusionModel needs transformer_in_channel=512 "
                             f"(video and audio tokens make the decoder's 1024 channels), got {transformer_in_channel}")
        grid_cells = math.prod(self.grid)
        self.conv_in_1x1 = nn.Conv3d(1024, transformer_in_channel, 1)
        self.transformer = TokenTransformer(transformer_in_channel, grid_cells + self.audio_steps, nhead,
                                            num_encoder_layers)
        self.audionet = SoundNet()
        self.audio_conv_1x1 = nn.Conv2d(1024, transformer_in_channel, 1)
        self.maxpool = nn.MaxPool3d((4, 1, 1), stride=(2, 1, 2))
        self.bilinear = nn.Bilinear(*self._bilinear_sizes(), grid_cells)

    def forward(self, clip: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        self.check_inputs(clip, audio)
        sound = self.audio_conv_1x1(self.audionet(audio)).flatten(2)
        y0, *hierarchies = self.visual_model.backbone(clip)
        video = self.conv_in_1x1(y0).flatten(2)
        tokens = self.transformer(torch.cat((video, sound), 2).permute(2, 0, 1)).permute(1, 2, 0)
        grid_cells = video.shape[2]
        video = tokens[..., :grid_cells].unflatten(2, self.grid)
        sound = tokens[..., grid_cells:].mean(2)[..., None, None, None].expand_as(video)
        return self.visual_model.decode(torch.cat((video, sound), 1), hierarchies)


# ----------------------------------------------------------------------------------------------
# ViNet-A (ViNet++, Girmaji et al., ICASSP 2025): a SlowFast-R50 encoder pre-trained for action
# localisation (ACAR-Net's: alpha 4, beta 1/8, last stage dilated and unstrided), a neck that joins
# its two pathways, and a decoder of grouped 3D convolutions with channel shuffles.

SLOWFAST_ALPHA = 4        # the fast pathway sees 4x the frames of the slow one
SLOWFAST_BETA = 8         # and has 1/8 of its channels
SLOWFAST_STAGES = (       # blocks, slow-pathway width, spatial stride, dilation, slow temporal kernel
    (3, 64, 1, 1, 1), (4, 128, 2, 1, 1), (6, 256, 2, 1, 3), (3, 512, 1, 2, 3))
SLOWFAST_SKIP_CHANNELS = (80, 320, 640, 1280)   # each slow stage's input: slow features and the lateral
VINET_A_DECODER = (       # in, out, temporal kernel (= stride; 3: padded, stride 1), decoder_groups divisor
    ("convtsp1", 1536, 640, 3, 1), ("convtsp2", 1280, 320, 3, 2), ("convtsp3", 640, 160, 3, 4),
    ("convtsp4", 320, 40, 3, 4), ("convtsp5", 80, 64, 2, 8), ("convtsp6", 64, 32, 2, 16))


class Bottleneck(nn.Module):
    """A SlowFast residual block: (k, 1, 1) reduce, (1, 3, 3) spatial, 1x1 expand, then the shortcut."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1, dilation: int = 1, temporal_kernel: int = 1):
        super().__init__()
        out_planes = planes * self.expansion
        self.conv1 = nn.Conv3d(in_planes, planes, (temporal_kernel, 1, 1), padding=(temporal_kernel // 2, 0, 0),
                               bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, (1, 3, 3), (1, stride, stride), (0, dilation, dilation),
                               (1, dilation, dilation), bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = nn.Conv3d(planes, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(out_planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = self.downsample_bn = None
        if stride != 1 or in_planes != out_planes:
            self.downsample = nn.Sequential(nn.Conv3d(in_planes, out_planes, 1, (1, stride, stride), bias=False))
            self.downsample_bn = nn.BatchNorm3d(out_planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample_bn(self.downsample(x))
        return self.relu(out + shortcut)


def _slowfast_stage(in_planes: int, planes: int, blocks: int, stride: int, dilation: int,
                    temporal_kernel: int) -> nn.Sequential:
    """One residual stage; its first block strides and widens."""
    widths = [in_planes] + [planes * Bottleneck.expansion] * (blocks - 1)
    return nn.Sequential(*(Bottleneck(width, planes, stride if i == 0 else 1, dilation, temporal_kernel)
                           for i, width in enumerate(widths)))


def _stem(temporal_kernel: int, width: int) -> tuple[nn.Conv3d, nn.BatchNorm3d]:
    """A pathway's first layer: a (k, 7, 7) convolution of spatial stride 2 and its batch norm."""
    return (nn.Conv3d(3, width, (temporal_kernel, 7, 7), (1, 2, 2), (temporal_kernel // 2, 3, 3), bias=False),
            nn.BatchNorm3d(width))


class SlowFastR50(nn.Module):
    """SlowFast-R50 (Feichtenhofer et al.) in ACAR-Net's layout: (B, 3, T, H, W) clip -> the slow and fast
    pathways' last features and the slow stages' inputs (SLOWFAST_SKIP_CHANNELS), the decoder's skips."""

    def __init__(self):
        super().__init__()
        slow_widths = [64] + [row[1] * Bottleneck.expansion for row in SLOWFAST_STAGES]
        fast_widths = [width // SLOWFAST_BETA for width in slow_widths]
        self.fast_conv1, self.fast_bn1 = _stem(5, fast_widths[0])
        for index, (blocks, planes, stride, dilation, _) in enumerate(SLOWFAST_STAGES, 1):
            setattr(self, f"fast_res{index}", _slowfast_stage(fast_widths[index - 1], planes // SLOWFAST_BETA, blocks,
                                                              stride, dilation, 3))
        self.slow_conv1, self.slow_bn1 = _stem(1, slow_widths[0])
        for index, (blocks, planes, stride, dilation, kernel) in enumerate(SLOWFAST_STAGES, 1):
            in_planes = slow_widths[index - 1] + 2 * fast_widths[index - 1]   # with the lateral connection
            setattr(self, f"slow_res{index}", _slowfast_stage(in_planes, planes, blocks, stride, dilation, kernel))
        for index, width in enumerate(fast_widths[:-1], 1):   # (5, 1, 1) convolutions of temporal stride alpha
            setattr(self, f"Tconv{index}", nn.Conv3d(width, 2 * width, (5, 1, 1), (SLOWFAST_ALPHA, 1, 1), (2, 0, 0),
                                                     bias=False))
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))

    def forward(self, clip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        fast = self.maxpool(self.relu(self.fast_bn1(self.fast_conv1(clip))))
        slow = self.maxpool(self.relu(self.slow_bn1(self.slow_conv1(clip[:, :, ::SLOWFAST_ALPHA]))))
        skips = []
        for index in range(1, len(SLOWFAST_STAGES) + 1):
            slow = torch.cat((slow, getattr(self, f"Tconv{index}")(fast)), 1)
            skips.append(slow)
            slow = getattr(self, f"slow_res{index}")(slow)
            fast = getattr(self, f"fast_res{index}")(fast)
        return slow, fast, skips


def _conv1x1_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(in_channels, out_channels, 1, bias=False), nn.ReLU(inplace=True))


class ViNetANeck(nn.Module):
    """Joins the pathways into 1536 channels on the slow grid (the fast one's 256 x T channels re-viewed as
    512 x T/2, then max-pooled over time to T/alpha: the authors' adaptive pooling) and halves the channels
    of the four skips."""

    def __init__(self):
        super().__init__()
        self.conv_slow = _conv1x1_relu(2048, 1024)
        for index, channels in enumerate(SLOWFAST_SKIP_CHANNELS, 1):
            setattr(self, f"conv_skip{index}", _conv1x1_relu(channels, channels // 2))

    def forward(self, slow: torch.Tensor, fast: torch.Tensor,
                skips: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        b, c, t, h, w = fast.shape
        fast = fast.reshape(b, 2 * c, t // 2, h, w)  # both grids share H and W; the slow one has 1/alpha of T
        fast = nn.functional.max_pool3d(fast, (fast.shape[2] // slow.shape[2], 1, 1))
        reduced = [getattr(self, f"conv_skip{i}")(skip) for i, skip in enumerate(skips, 1)]
        return torch.cat((self.conv_slow(slow), fast), 1), reduced


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle (Zhang et al.): interleave the channels of `groups` equal groups."""
    b, c = x.shape[:2]
    return x.reshape(b, groups, c // groups, *x.shape[2:]).transpose(1, 2).reshape(x.shape)


def _vinet_a_stage(in_channels: int, out_channels: int, kernel: int, groups: int) -> list[nn.Module]:
    """A (k, 3, 3) grouped convolution (k 3: padded, stride 1; k 2: temporal stride 2) and a ReLU."""
    stride, padding = (1, 1) if kernel == 3 else (kernel, 0)
    return [nn.Conv3d(in_channels, out_channels, (kernel, 3, 3), (stride, 1, 1), (padding, 1, 1), groups=groups,
                      bias=False), nn.ReLU(inplace=True)]


class ViNetADecoder(nn.Module):
    """The neck's features and the skips (deepest last) -> (B, H, W) map in [0, 1]: grouped convolutions,
    each skip concatenated after a stage and channel-shuffled before the next (where the shuffle has at
    least 8 groups), trilinear upsampling to each skip's grid and then by 2 twice."""

    SKIPPED_STAGES = ("convtsp2", "convtsp3", "convtsp4", "convtsp5")   # each takes cat(features, skip)
    MIN_SHUFFLE_GROUPS = 8

    def __init__(self, decoder_groups: int = 32, use_channel_shuffle: bool = True):
        super().__init__()
        groups = {name: max(1, decoder_groups // divisor) for name, *_, divisor in VINET_A_DECODER}
        for name, in_channels, out_channels, kernel, _ in VINET_A_DECODER:
            setattr(self, name, nn.Sequential(*_vinet_a_stage(in_channels, out_channels, kernel, groups[name])))
        self.convtsp6.extend([nn.Upsample(scale_factor=(1, 2, 2), mode="trilinear"),
                              *_vinet_a_stage(32, 16, 2, 1), nn.Conv3d(16, 16, 1, bias=False), nn.ReLU(inplace=True),
                              nn.Conv3d(16, 1, 1), nn.Sigmoid()])
        shuffles = [decoder_groups >> k for k in range(len(self.SKIPPED_STAGES))]   # 32, 16, 8, 4 released
        self.shuffle_groups = [g if use_channel_shuffle and g >= self.MIN_SHUFFLE_GROUPS else 0 for g in shuffles]

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        x = self.convtsp1(x)
        for name, skip, groups in zip(self.SKIPPED_STAGES, reversed(skips), self.shuffle_groups):
            if x.shape[3:] != skip.shape[3:]:
                x = nn.functional.interpolate(x, size=(x.shape[2], *skip.shape[3:]), mode="trilinear")
            x = torch.cat((x, skip), 1)
            x = getattr(self, name)(channel_shuffle(x, groups) if groups else x)
        x = nn.functional.interpolate(x, scale_factor=(1, 2, 2), mode="trilinear")
        return self.convtsp6(x)[:, 0, 0]


class ViNetA(nn.Module):
    """ViNet-A: (B, 3, 32, H, W) clip (mean 0.45, std 0.225; 256x456 released) -> (B, H, W) saliency of its
    middle frame, in [0, 1]. decoder_groups and use_channel_shuffle: the authors' arguments."""

    def __init__(self, decoder_groups: int = 32, use_channel_shuffle: bool = True):
        super().__init__()
        self.backbone = SlowFastR50()
        self.neck = ViNetANeck()
        self.decoder = ViNetADecoder(decoder_groups, use_channel_shuffle)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        if clip.dim() != 5 or clip.shape[1] != 3 or clip.shape[2] % (2 * SLOWFAST_ALPHA):
            raise ValueError(f"ViNetA expects clips of shape (B, 3, 32, H, W), got {tuple(clip.shape)}")
        fused, skips = self.neck(*self.backbone(clip))
        return self.decoder(fused, skips)


class ViNetE(nn.Module):
    """ViNet-E: the mean of ViNet-A's map and ViNet-S's map resized to it (bicubic), one clip for each.
    Its members: the released ViNet-S (grouped decoder) and ViNet-A, unless given."""

    def __init__(self, vinet_s: nn.Module | None = None, vinet_a: nn.Module | None = None):
        super().__init__()
        self.vinet_s = vinet_s or VideoSaliencyModel(grouped_conv=True)
        self.vinet_a = vinet_a or ViNetA()

    def forward(self, clip_s: torch.Tensor, clip_a: torch.Tensor) -> torch.Tensor:
        map_a = self.vinet_a(clip_a)
        map_s = nn.functional.interpolate(self.vinet_s(clip_s)[:, None], size=map_a.shape[1:], mode="bicubic")
        return (map_a + map_s[:, 0]) / 2


# Clean names for new code; the original names above keep working.
ViNet = VideoSaliencyModel
AViNet = VideoAudioSaliencyModel
AViNetFusion = VideoAudioSaliencyFusionModel
