"""Small real JPEG frames, like the ESP32-CAM's, drawn with Pillow."""

import io

from PIL import Image, ImageDraw


def jpeg(label: str, colour: tuple[int, int, int] = (15, 139, 141)) -> bytes:
    """A 320x240 JPEG: a shelf-like scene with ``label`` written on it."""
    image = Image.new("RGB", (320, 240), (236, 240, 241))
    draw = ImageDraw.Draw(image)
    for y in (70, 150):
        draw.rectangle((20, y, 300, y + 8), fill=(140, 110, 80))
    draw.rectangle((40, 30, 90, 70), fill=colour)
    draw.rectangle((120, 110, 160, 150), fill=(200, 40, 40))
    draw.ellipse((210, 100, 260, 150), fill=(230, 180, 40))
    draw.text((24, 200), label, fill=(18, 52, 59))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()
