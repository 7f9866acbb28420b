"""Steadier heads: each frame's inverted codes (w+ and tri-planes) smoothed over time, streamed.

The encoder answers tiny changes of its input (sensor noise, compression, a crop moved by a fraction of a
pixel) with changes all over the head, so a still face re-rendered from a fixed camera shimmers even when
its crop and camera are still. Each frame's head is therefore replaced by the centred local linear fit of
the landmarks (:func:`.smoothing.smoothing_matrix`) over its neighbours' heads, with a Gaussian window of
:data:`CODE_SECONDS`, cut at :data:`MAX_RADIUS` frames on each side. A linear fit follows steady change
(a turn, a smile) without lag; only what changes faster than the window is softened.

Frame ``t``'s head is ready once frame ``t + radius`` is inverted, so at most ``2 radius + 1`` heads'
tri-planes ([1,3,32,256,256], 25 MB each) are held, whatever the clip's length.
"""
from __future__ import annotations

import math
from dataclasses import replace

from ..inversion.result import Inversion
from .smoothing import smoothing_matrix

CODE_SECONDS = 0.1
"""Standard deviation of the window over the heads, in seconds of video (1.5 frames at 15 fps)."""
MAX_RADIUS = 3
"""Most frames on each side of a frame whose heads are averaged into it (bounds the heads held)."""


def window_radius(sigma: float) -> int:
    """Frames on each side of the window of standard deviation ``sigma`` frames (0 when ``sigma`` is 0)."""
    return min(MAX_RADIUS, math.ceil(2 * sigma)) if sigma > 0 else 0


class HeadSmoother:
    """Takes the heads of frames 0, 1, 2, ... in order and hands each back smoothed, ``radius`` frames later.

    ``count`` is the clip's length in frames and ``sigma`` the window's standard deviation in frames (0: every
    head is handed back at once, unchanged). A smoothed head keeps its own frame's camera and input image;
    its ``planes_initial`` are its smoothed ``planes`` (the encoder's first planes are not kept).
    """

    def __init__(self, count: int, sigma: float):
        self.sigma, self.radius = sigma, window_radius(sigma)
        self.matrix = smoothing_matrix(count, sigma, self.radius)
        self.heads: dict[int, Inversion] = {}
        self.next = 0

    def push(self, t: int, head: Inversion) -> list[tuple[int, Inversion]]:
        """Add frame ``t``'s one-face ``head``; returns the frames (index, smoothed head) now ready, in order."""
        self.heads[t] = replace(head, planes_initial=head.planes)
        return self._ready(t - self.radius)

    def finish(self) -> list[tuple[int, Inversion]]:
        """The clip ends after the last head pushed (its end, or a stop): the frames still held, smoothed."""
        count = max(self.heads, default=-1) + 1
        self.matrix = smoothing_matrix(count, self.sigma, self.radius)
        return self._ready(count - 1)

    def _ready(self, last: int) -> list[tuple[int, Inversion]]:
        """Frames ``next .. last`` smoothed; heads no later frame needs are dropped."""
        ready = []
        while self.next <= last:
            ready.append((self.next, self._smoothed(self.next)))
            self.heads.pop(self.next - self.radius, None)
            self.next += 1
        return ready

    def _smoothed(self, t: int) -> Inversion:
        """Frame ``t``'s head with ws [1,L,512] and planes [1,3,32,256,256] averaged by row ``t`` of the matrix."""
        if self.radius == 0:
            return self.heads[t]
        frames = [s for s in range(t - self.radius, t + self.radius + 1) if s in self.heads]
        weights = [float(self.matrix[t, s]) for s in frames]
        ws = sum(w * self.heads[s].ws for w, s in zip(weights, frames))
        planes = sum(w * self.heads[s].planes for w, s in zip(weights, frames))
        return replace(self.heads[t], ws=ws, planes=planes, planes_initial=planes)
