"""Generator configurations as data: the official ``init_kwargs`` of known checkpoints.

``TriPlaneGenerator(**FFHQ_512_128)`` builds the architecture of the published
``ffhq512-128.pkl``; the loader normally takes these values from the
checkpoint itself, so this table is for building models from scratch.
"""
from __future__ import annotations

import copy

FFHQ_RENDERING = {
    "image_resolution": 512,
    "disparity_space_sampling": False,
    "clamp_mode": "softplus",
    "superresolution_module": "training.superresolution.SuperresolutionHybrid8XDC",
    "c_gen_conditioning_zero": False,
    "gpc_reg_prob": 0.5,
    "c_scale": 1.0,
    "superresolution_noise_mode": "none",
    "density_reg": 0.25,
    "density_reg_p_dist": 0.004,
    "reg_type": "l1",
    "decoder_lr_mul": 1.0,
    "sr_antialias": True,
    "depth_resolution": 48,
    "depth_resolution_importance": 48,
    "ray_start": 2.25,
    "ray_end": 3.3,
    "box_warp": 1,
    "avg_camera_radius": 2.7,
    "avg_camera_pivot": [0, 0, 0.2],
}

FFHQ_512_128 = {
    "z_dim": 512,
    "w_dim": 512,
    "mapping_kwargs": {"num_layers": 2},
    "channel_base": 32768,
    "channel_max": 512,
    "fused_modconv_default": "inference_only",
    "rendering_kwargs": FFHQ_RENDERING,
    "num_fp16_res": 0,
    "sr_num_fp16_res": 4,
    "sr_kwargs": {"channel_base": 32768, "channel_max": 512, "fused_modconv_default": "inference_only"},
    "conv_clamp": None,
    "c_dim": 25,
    "img_resolution": 512,
    "img_channels": 3,
}

BUNDLED_RENDERING = {
    **FFHQ_RENDERING,
    "image_resolution": 128,
    "superresolution_module": "training.superresolution.SuperresolutionHybrid2X",
    "c_gen_conditioning_zero": True,
    "depth_resolution": 24,
    "depth_resolution_importance": 24,
}

BUNDLED = {
    "z_dim": 97,
    "w_dim": 128,
    "mapping_kwargs": {"num_layers": 2},
    "channel_base": 4096,
    "channel_max": 128,
    "fused_modconv_default": "inference_only",
    "rendering_kwargs": BUNDLED_RENDERING,
    "num_fp16_res": 0,
    "sr_num_fp16_res": 0,
    "sr_kwargs": {"channel_base": 2048, "channel_max": 32, "fused_modconv_default": "inference_only"},
    "conv_clamp": None,
    "c_dim": 25,
    "img_resolution": 128,
    "img_channels": 3,
}
"""The first bundled offline model (shipped until ``bundled64`` replaced it), sized for CPUs: z is a
synthetic head's 97 parameters (normalised), tri-planes stay 256 (what TriPlaneNet's encoders expect) with
16-128 backbone channels, 32 px neural rendering with 24 + 24 depth samples and 2X super-resolution to a
128 px image. The mapping is not conditioned on the camera (one tri-plane per head, rendered from every
view)."""

BUNDLED64 = {**BUNDLED, "channel_base": 8192}
"""The shipped bundled model (``make bundled``), retrained for sharpness and shape: rendered at 64 px
(2X super-resolution then reads its input at 64, no resize) and twice the backbone channels at 128² and
256² (32-128 instead of 16-128: the 16-channel 256² block starved the planes). The mapping keeps
StyleGAN's 0.01 learning-rate multiplier (full rate measured no better). See the model card in README.md
and ``benchmarks/bench_training.py --fit-cpu`` for the measurements behind the choice."""

CONFIGS = {"ffhq512-128": (FFHQ_512_128, 128), "ffhq512-64": (FFHQ_512_128, 64), "bundled": (BUNDLED, 32),
           "bundled64": (BUNDLED64, 64)}

_BUNDLED_BODY = {"units": [1, 2, 2, 1], "channels": [32, 48, 64, 96]}
ENCODER_SIZES = {
    "bundled": {"psp_kwargs": {"input_size": 128, "coarse_ind": 14, "middle_ind": 14, **_BUNDLED_BODY},
                "triplane_kwargs": {"decoder_channels": [64, 48, 32, 32], **_BUNDLED_BODY}},
}
"""TriPlaneNet encoder sizes for ``train-encoder --sizes NAME`` (published models: the classes' defaults).
The bundled pSp sees the 128 px image through a 1/2/2/1-unit IR-SE backbone at 32-96 channels, every style
from the coarsest (8x8) pyramid level; the tri-plane network has the same backbone and a 64-32 channel
decoder."""


def get(name: str) -> tuple[dict, int]:
    """A deep copy of a named config's ``init_kwargs`` and its neural rendering resolution."""
    if name not in CONFIGS:
        raise KeyError(f"unknown config {name!r}; known: {sorted(CONFIGS)}")
    kwargs, resolution = CONFIGS[name]
    return copy.deepcopy(kwargs), resolution
