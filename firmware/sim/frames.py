"""Real JPEG frames the size of an ESP32-CAM's VGA output (640x480, tens of KB)."""

import io
import random
import zlib

from PIL import Image, ImageDraw, ImageFilter, ImageFont

WIDTH, HEIGHT = 640, 480
QUALITY = 80
SHELVES = (150, 300, 450)
SLOT_W = 118  # one position of the cabinet, as wide as a box and the gap beside it


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, TypeError):  # Pillow without FreeType draws its small bitmap font
        return ImageFont.load_default()


def _wall(draw: ImageDraw.ImageDraw, rng: random.Random) -> None:
    """The cabinet's back wall, lit from above, and its shelves."""
    warm = rng.randint(-20, 20)
    for y in range(HEIGHT):
        shade = 200 - y * 110 // HEIGHT
        draw.line([(0, y), (WIDTH, y)], fill=(shade + warm, shade, shade - warm))
    for shelf_y in SHELVES:
        draw.rectangle([0, shelf_y, WIDTH, shelf_y + 14], fill=(120, 90, 60))


def _random_products(draw: ImageDraw.ImageDraw, rng: random.Random) -> None:
    for shelf_y in SHELVES:
        x = rng.randint(10, 60)
        while x < WIDTH - 60:
            w, h = rng.randint(40, 90), rng.randint(60, 125)
            colour = tuple(rng.randint(30, 230) for _ in range(3))
            draw.rectangle([x, shelf_y - h, x + w, shelf_y], fill=colour, outline=(20, 20, 20))
            draw.rectangle([x + 6, shelf_y - h + 15, x + w - 6, shelf_y - h + 35], fill="white")
            x += w + rng.randint(8, 50)


def _looks(name: str) -> tuple[tuple[int, int, int], int]:
    """An item's colour and height, the same in every frame."""
    code = zlib.crc32(name.encode())
    colour = (60 + code % 170, 60 + (code >> 8) % 170, 60 + (code >> 16) % 170)
    return colour, 80 + (code >> 24) % 45


def _stock(draw: ImageDraw.ImageDraw, stock: list[tuple[str, bool]]) -> None:
    """One box per position, left to right and shelf by shelf; a taken one leaves a gap."""
    font = _font(13)
    per_shelf = max(1, (WIDTH - 20) // SLOT_W)
    row, col, previous = 0, 0, None
    for name, present in stock:
        if previous is not None and (col >= per_shelf or (name != previous and col and row < 2)):
            row, col = row + 1, 0  # each item starts its own shelf while shelves are left
        previous = name
        shelf_y, x = SHELVES[row % len(SHELVES)], 20 + col * SLOT_W
        col += 1
        if not present:
            continue
        colour, h = _looks(name)
        draw.rectangle([x, shelf_y - h, x + 88, shelf_y], fill=colour, outline=(20, 20, 20))
        draw.rectangle([x + 5, shelf_y - h + 12, x + 83, shelf_y - h + 34], fill="white")
        draw.text((x + 44, shelf_y - h + 23), name[:12], fill=(20, 20, 20), font=font, anchor="mm")


def make_frame(rng: random.Random, label: str = "", stock=None) -> bytes:
    """A noisy shot of cabinet shelves: ``stock`` [(item, present)] per position, else products."""
    base = Image.new("RGB", (WIDTH, HEIGHT))
    draw = ImageDraw.Draw(base)
    _wall(draw, rng)
    if stock is None:
        _random_products(draw, rng)
    else:
        _stock(draw, list(stock))
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
