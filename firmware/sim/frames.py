"""Real JPEG frames the size of an ESP32-CAM's VGA output (640x480, tens of KB)."""

import io
import random

from PIL import Image, ImageDraw, ImageFilter

WIDTH, HEIGHT = 640, 480
QUALITY = 80


def make_frame(rng: random.Random, label: str = "") -> bytes:
    """A noisy shot of cabinet shelves with a few products on them."""
    base = Image.new("RGB", (WIDTH, HEIGHT))
    draw = ImageDraw.Draw(base)
    warm = rng.randint(-20, 20)
    for y in range(HEIGHT):  # the cabinet's back wall, lit from above
        shade = 200 - y * 110 // HEIGHT
        draw.line([(0, y), (WIDTH, y)], fill=(shade + warm, shade, shade - warm))
    for shelf_y in (150, 300, 450):
        draw.rectangle([0, shelf_y, WIDTH, shelf_y + 14], fill=(120, 90, 60))
        x = rng.randint(10, 60)
        while x < WIDTH - 60:
            w, h = rng.randint(40, 90), rng.randint(60, 125)
            colour = tuple(rng.randint(30, 230) for _ in range(3))
            draw.rectangle([x, shelf_y - h, x + w, shelf_y], fill=colour, outline=(20, 20, 20))
            draw.rectangle([x + 6, shelf_y - h + 15, x + w - 6, shelf_y - h + 35], fill="white")
            x += w + rng.randint(8, 50)
    if label:
        draw.text((10, 10), label, fill=(255, 255, 0))
    # sensor noise, as an OV2640 shows indoors; it is also what gives JPEGs their size
    noise = Image.effect_noise((WIDTH, HEIGHT), rng.uniform(18, 30)).convert("RGB")
    img = Image.blend(base.filter(ImageFilter.SMOOTH), noise, 0.12)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=QUALITY)
    return out.getvalue()


def make_frames(count: int, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    return [make_frame(rng, "cam frame %d" % i) for i in range(count)]
