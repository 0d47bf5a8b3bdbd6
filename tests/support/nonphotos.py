"""Generated images that are no photo of anything: what "unknown" must catch besides other photos.

Eight kinds, seeded and small: uniform noise, gaussian noise, flat colours, gradients, random
shapes, rendered text, UI-like screenshots and line drawings, at a few typical sizes, encoded as
JPEG or PNG like an upload. The tests and the training benchmark use this one module, so the
"≥ 99 % of generated non-photos answered unknown" figure is about the same images the tests check.
Pillow's bundled font renders the text (no system fonts needed).
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFont

KINDS = ("uniform_noise", "gaussian_noise", "flat", "gradient", "shapes", "text", "ui", "sketch")
SIZES = ((224, 224), (320, 240), (640, 480), (400, 600), (800, 450))
WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "invoice", "total", "amount",
         "settings", "login", "password", "cancel", "submit", "report", "meeting", "agenda", "budget",
         "quarterly", "results", "hello", "world", "error", "warning", "file", "edit", "view", "help")


def _colour(r: random.Random, lo: int = 0, hi: int = 255) -> tuple[int, int, int]:
    return (r.randint(lo, hi), r.randint(lo, hi), r.randint(lo, hi))


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _words(r: random.Random, lo: int, hi: int) -> str:
    return " ".join(r.choice(WORDS) for _ in range(r.randint(lo, hi)))


def draw(kind: str, r: random.Random, nr: np.random.Generator) -> Image.Image:
    """One image of `kind`; `r` and `nr` carry the seed."""
    w, h = r.choice(SIZES)
    if kind == "uniform_noise":
        return Image.fromarray(nr.integers(0, 256, (h, w, 3), dtype=np.uint8))
    if kind == "gaussian_noise":
        a = np.clip(nr.normal(r.uniform(60, 190), r.uniform(10, 70), (h, w, 3)), 0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(a[..., :1], 3, 2) if r.random() < 0.3 else a)
    if kind == "flat":
        return Image.new("RGB", (w, h), _colour(r))
    if kind == "gradient":
        y, x = np.mgrid[0:h, 0:w] / max(h, w)
        c0, c1 = np.array(_colour(r)), np.array(_colour(r))
        if r.random() < 0.5:
            angle = r.uniform(0, 2 * math.pi)
            t = x * math.cos(angle) + y * math.sin(angle)
        else:
            t = np.hypot(x - r.random(), y - r.random())
        t = (t - t.min()) / (np.ptp(t) + 1e-9)
        return Image.fromarray((c0 + (c1 - c0) * t[..., None]).astype(np.uint8))
    im = Image.new("RGB", (w, h), _colour(r))
    d = ImageDraw.Draw(im)
    if kind == "shapes":
        for _ in range(r.randint(3, 25)):
            x0, y0 = r.randint(-50, w), r.randint(-50, h)
            box = [x0, y0, x0 + r.randint(10, w // 2), y0 + r.randint(10, h // 2)]
            shape = r.random()
            if shape < 1 / 3:
                corners = [(r.randint(0, w), r.randint(0, h)) for _ in range(r.randint(3, 6))]
                d.polygon(corners, fill=_colour(r))
            elif shape < 2 / 3:
                d.rectangle(box, fill=_colour(r), outline=_colour(r) if r.random() < 0.5 else None)
            else:
                d.ellipse(box, fill=_colour(r), outline=_colour(r) if r.random() < 0.5 else None)
        return im
    if kind == "text":
        bg = _colour(r, 200, 255) if r.random() < 0.7 else _colour(r, 0, 60)
        fg = _colour(r, 0, 60) if sum(bg) > 380 else _colour(r, 200, 255)
        im.paste(bg, (0, 0, w, h))
        top, size = r.randint(2, 20), r.randint(12, 48)
        while top < h:
            d.text((r.randint(2, 30), top), _words(r, 2, 10), fill=fg, font=_font(size))
            top += int(size * r.uniform(1.2, 2.0))
        return im
    if kind == "ui":
        im.paste(_colour(r, 225, 255), (0, 0, w, h))
        d.rectangle([0, 0, w, r.randint(24, 50)], fill=_colour(r, 20, 120))  # title bar
        if r.random() < 0.6:
            d.rectangle([0, 50, r.randint(60, 160), h], fill=_colour(r, 200, 240))  # sidebar
        font = _font(r.randint(10, 16))
        for _ in range(r.randint(5, 20)):
            x, y, widget = r.randint(10, w - 80), r.randint(55, h - 20), r.random()
            if widget < 0.3:  # a button
                d.rounded_rectangle([x, y, x + r.randint(50, 120), y + r.randint(18, 32)], 6,
                                    fill=_colour(r, 30, 200))
                d.text((x + 6, y + 4), r.choice(WORDS).upper(), fill=(255, 255, 255), font=font)
            elif widget < 0.55:  # a text field
                d.rectangle([x, y, x + r.randint(80, 200), y + 22], outline=_colour(r, 100, 180),
                            fill=(255, 255, 255))
            else:
                d.text((x, y), _words(r, 2, 7), fill=_colour(r, 0, 80), font=font)
        return im
    if kind == "sketch":
        im.paste((255, 255, 255) if r.random() < 0.8 else _colour(r, 230, 255), (0, 0, w, h))
        ink = (0, 0, 0) if r.random() < 0.7 else _colour(r, 0, 120)
        for _ in range(r.randint(5, 40)):
            stroke, x0, y0 = r.random(), r.randint(0, w), r.randint(0, h)
            if stroke < 0.4:
                points = [(x0, y0)]
                for _ in range(r.randint(2, 12)):
                    points.append((points[-1][0] + r.randint(-60, 60), points[-1][1] + r.randint(-60, 60)))
                d.line(points, fill=ink, width=r.randint(1, 3))
            elif stroke < 0.7:
                rad = r.randint(5, 80)
                d.arc([x0 - rad, y0 - rad, x0 + rad, y0 + rad], r.randint(0, 360), r.randint(0, 360),
                      fill=ink, width=r.randint(1, 3))
            else:
                d.rectangle([x0, y0, x0 + r.randint(10, 120), y0 + r.randint(10, 120)], outline=ink,
                            width=r.randint(1, 2))
        return im
    raise ValueError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")


def encode(image: Image.Image, r: random.Random) -> tuple[bytes, str]:
    """(bytes, suffix): half JPEG (quality 90), half PNG, as uploads come."""
    buf = io.BytesIO()
    if r.random() < 0.5:
        image.save(buf, "JPEG", quality=90)
        return buf.getvalue(), ".jpg"
    image.save(buf, "PNG")
    return buf.getvalue(), ".png"


def nonphotos(per_kind: int = 4, seed: int = 7,
              kinds: tuple[str, ...] = KINDS) -> Iterator[tuple[str, bytes]]:
    """(name, encoded bytes) for `per_kind` images of each kind, e.g. `text-003.png`."""
    r, nr = random.Random(seed), np.random.default_rng(seed)
    for kind in kinds:
        for i in range(per_kind):
            data, suffix = encode(draw(kind, r, nr), r)
            yield f"{kind}-{i:03d}{suffix}", data
