"""Captcha phrases and images as Gregwar/Captcha v1.1.3 makes them.

A phrase is 5 characters from ``abcdefghijklmnpqrstuvwxyz123456789`` (no ``o``, no ``0``); an image
is a 150x40 JPEG at quality 90. Every drawing of the same phrase gets new noise and distortion, as
each GET of a captcha does at GLPI. People must be able to read it, so the distortion stays mild.
"""

from __future__ import annotations

import io
import math
import random
import secrets

from PIL import Image, ImageDraw, ImageFont

ALPHABET = "abcdefghijklmnpqrstuvwxyz123456789"
PHRASE_LENGTH = 5
WIDTH, HEIGHT = 150, 40
JPEG_QUALITY = 90


def new_phrase() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(PHRASE_LENGTH))


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def _color(rng: random.Random, low: int, high: int) -> tuple[int, int, int]:
    return tuple(rng.randint(low, high) for _ in range(3))


def _lines(draw: ImageDraw.ImageDraw, rng: random.Random, count: int, low: int, high: int) -> None:
    for _ in range(count):
        start = (rng.randint(0, WIDTH), rng.randint(0, HEIGHT))
        end = (rng.randint(0, WIDTH), rng.randint(0, HEIGHT))
        draw.line([start, end], fill=_color(rng, low, high), width=rng.randint(1, 2))


def _wave(image: Image.Image, rng: random.Random) -> Image.Image:
    """Shift columns up and down along a sine: Gregwar's distortion, gentler."""
    amplitude, period, phase = rng.uniform(1.0, 2.5), rng.uniform(40, 70), rng.uniform(0, 2 * math.pi)
    background = image.getpixel((0, 0))
    waved = Image.new("RGB", image.size, background)
    for x in range(WIDTH):
        shift = round(amplitude * math.sin(2 * math.pi * x / period + phase))
        waved.paste(image.crop((x, 0, x + 1, HEIGHT)), (x, shift))
    return waved


def draw(phrase: str, *, seed: int | None = None) -> bytes:
    """A JPEG of ``phrase`` with fresh random noise (or repeatable noise for a ``seed``)."""
    rng = random.Random(seed)
    image = Image.new("RGB", (WIDTH, HEIGHT), _color(rng, 200, 255))
    canvas = ImageDraw.Draw(image)
    _lines(canvas, rng, rng.randint(3, 6), 120, 200)  # behind the text
    step = (WIDTH - 20) / len(phrase)
    for index, char in enumerate(phrase):
        font = _font(rng.randint(22, 27))
        glyph = Image.new("RGBA", (34, 38), (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text((6, 2), char, font=font, fill=(*_color(rng, 0, 110), 255))
        glyph = glyph.rotate(rng.uniform(-14, 14), resample=Image.Resampling.BICUBIC)
        x = round(10 + index * step + rng.uniform(-2, 2))
        y = rng.randint(-3, 3)
        image.paste(glyph, (x, y), glyph)
    canvas = ImageDraw.Draw(image)
    _lines(canvas, rng, rng.randint(2, 4), 60, 160)  # over the text
    image = _wave(image, rng)
    for _ in range(120):  # speckles
        image.putpixel((rng.randrange(WIDTH), rng.randrange(HEIGHT)), _color(rng, 0, 255))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()
