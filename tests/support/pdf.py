"""Reading PDFs back the way a person would: poppler's pdftotext and pdftoppm."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def text(pdf: Path) -> str:
    """The PDF's text in reading order (pdftotext -layout)."""
    done = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True, timeout=60
    )
    return done.stdout.decode("utf-8")


def pages(pdf: Path) -> int:
    done = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, check=True, timeout=60)
    for line in done.stdout.decode().splitlines():
        if line.startswith("Pages:"):
            return int(line.split()[1])
    raise AssertionError("pdfinfo printed no page count")


def to_png(pdf: Path, name: str, dpi: int = 80) -> list[Path]:
    """Every page as ``test-artifacts/<name>-<n>.png`` (for looking at, and for CI to keep)."""
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob(f"{name}-*.png"):
        old.unlink()
    subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-png", str(pdf), str(ARTIFACTS / name)],
        check=True,
        timeout=120,
    )
    return sorted(ARTIFACTS.glob(f"{name}-*.png"))


def images(pdf: Path) -> int:
    """How many raster images the PDF holds (charts must be vectors: none)."""
    done = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, check=True)
    return len(done.stdout.decode().splitlines()) - 2  # two header lines
