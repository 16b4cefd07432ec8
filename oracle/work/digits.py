"""A hand-drawn-digits data set generated here, deterministically, from stroke templates.

No data set can be downloaded at run time, and a page user draws digits with a pen; so each digit
0-9 is a set of pen strokes (polylines in the unit square, y pointing down), and every sample is
that template under a random affine transform (rotation, scale, shear, shift), random point
jitter and a random pen width, rendered into a 16 x 16 grid: a pixel's ink is ``1 - d/w`` clipped
to [0, 1] for distance ``d`` to the nearest stroke and pen half-width ``w``, quantised to 17 levels
(0, 1/16, ..., 1; like the 0-16 levels of the UCI 8x8 digits). A pixel row-major is one feature:
an item is ``float32[256]``, 0 = background, 1 = ink. The page downsamples a drawing the same way.

Randomness comes from NumPy's PCG64 (bit-identical everywhere); the quantisation absorbs the last
bit of any platform's float arithmetic, so the same seed gives the same bytes on every machine.
"""

from __future__ import annotations

import numpy as np

SIDE = 16
FEATURES = SIDE * SIDE
CLASSES = 10


def _ellipse(cx: float, cy: float, rx: float, ry: float, start: float = 0.0, turn: float = 1.0, k: int = 14):
    t = start + np.linspace(0.0, 2 * np.pi * turn, k)
    return list(zip(cx + rx * np.sin(t), cy - ry * np.cos(t), strict=True))


# Strokes per digit: each a polyline [(x, y), ...] in [0, 1]^2.
TEMPLATES: dict[int, list[list[tuple[float, float]]]] = {
    0: [_ellipse(0.5, 0.5, 0.26, 0.38, k=18)],
    1: [[(0.36, 0.26), (0.52, 0.1), (0.52, 0.9)]],
    2: [[(0.26, 0.3), (0.36, 0.15), (0.55, 0.1), (0.72, 0.2), (0.72, 0.38), (0.26, 0.9), (0.78, 0.9)]],
    3: [[(0.26, 0.14), (0.7, 0.14), (0.46, 0.44), (0.7, 0.58), (0.72, 0.78), (0.52, 0.92), (0.26, 0.85)]],
    4: [[(0.64, 0.9), (0.64, 0.1), (0.2, 0.64), (0.82, 0.64)]],
    5: [
        [
            (0.74, 0.1),
            (0.32, 0.1),
            (0.28, 0.45),
            (0.55, 0.4),
            (0.72, 0.56),
            (0.7, 0.8),
            (0.5, 0.92),
            (0.26, 0.85),
        ]
    ],
    6: [
        [(0.7, 0.1), (0.46, 0.2), (0.32, 0.42), (0.28, 0.68), (0.4, 0.9), (0.62, 0.88), (0.72, 0.7)]
        + [(0.62, 0.52), (0.42, 0.52), (0.3, 0.66)]
    ],
    7: [[(0.22, 0.1), (0.78, 0.1), (0.44, 0.9)]],
    8: [_ellipse(0.5, 0.29, 0.18, 0.19, k=14), _ellipse(0.5, 0.7, 0.23, 0.21, k=14)],
    9: [_ellipse(0.5, 0.32, 0.2, 0.22, start=np.pi / 2, k=14), [(0.7, 0.32), (0.66, 0.9)]],
}


def _segments(strokes: list[list[tuple[float, float]]]) -> np.ndarray:
    segs = [(p, q) for s in strokes for p, q in zip(s[:-1], s[1:], strict=True)]
    return np.asarray(segs, dtype=np.float64)  # [S, 2 (ends), 2 (x, y)]


_SEGMENTS = {d: _segments(t) for d, t in TEMPLATES.items()}
_CENTRES = (np.arange(SIDE) + 0.5) / SIDE
_PIXELS = np.stack(np.meshgrid(_CENTRES, _CENTRES, indexing="xy"), axis=-1).reshape(-1, 2)  # [256, (x, y)]


_MAX_SEGMENTS = max(len(s) for s in _SEGMENTS.values())


def render(segments: np.ndarray, half_width: np.ndarray) -> np.ndarray:
    """Ink of each pixel, ``[B, 256]``, for strokes ``segments`` ``[B, S, 2, 2]`` and pen
    half-widths ``[B]`` (unit square)."""
    a, b = segments[:, None, :, 0], segments[:, None, :, 1]  # [B, 1, S, 2]
    ab = b - a
    ap = _PIXELS[None, :, None, :] - a  # [B, 256, S, 2]
    t = np.clip((ap * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0.0, 1.0)
    dist = np.sqrt(((ap - t[..., None] * ab) ** 2).sum(-1)).min(axis=2)  # [B, 256]
    ink = np.clip(1.0 - (dist - half_width[:, None]) / (1.5 / SIDE), 0.0, 1.0)
    return np.round(ink * 16.0) / 16.0


def generate(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` samples: images ``float32 [count, 256]`` and labels ``int64 [count]`` (balanced,
    shuffled), identical for the same ``(count, seed)``."""
    rng = np.random.Generator(np.random.PCG64(seed))
    labels = rng.permutation(np.arange(count) % CLASSES).astype(np.int64)
    angle = rng.uniform(-0.2, 0.2, size=count)
    scale = rng.uniform(0.8, 1.08, size=(count, 2))
    shear = rng.uniform(-0.25, 0.25, size=count)
    shift = rng.uniform(-0.08, 0.08, size=(count, 1, 1, 2))
    width = rng.uniform(0.025, 0.06, size=count)
    jitter = rng.normal(0.0, 0.018, size=(count, _MAX_SEGMENTS, 2, 2))
    cos, sin = np.cos(angle), np.sin(angle)
    rot = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)  # [count, 2, 2]
    sh = np.zeros((count, 2, 2))
    sh[:, 0, 0] = sh[:, 1, 1] = 1.0
    sh[:, 0, 1] = shear
    m = rot @ sh * scale[:, None, :]  # rot @ shear @ diag(scale)
    images = np.empty((count, FEATURES), dtype=np.float32)
    for digit in range(CLASSES):
        idx = np.flatnonzero(labels == digit)
        segs = _SEGMENTS[digit]
        moved = segs[None] - 0.5 + jitter[idx, : len(segs)]  # [B, S, 2, 2]
        moved = np.einsum("bij,bskj->bski", m[idx], moved) + 0.5 + shift[idx]
        images[idx] = render(moved, width[idx])
    return images, labels
