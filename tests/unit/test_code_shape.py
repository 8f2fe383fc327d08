"""The code stays in pieces a reader can hold: modules of at most 500 lines, functions of 60.

Read with ast, nothing is imported or run. A function's length counts from its
``def`` (decorators included) to its last line, nested functions within it.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("services", "firmware", "bench")
MODULE_LINES = 500
FUNCTION_LINES = 60


def python_files() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py"))


def functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def length(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return node.end_lineno - first + 1


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def long_modules(files: list[Path]) -> dict[str, int]:
    counts = {shown(p): len(p.read_text().splitlines()) for p in files}
    return {name: n for name, n in counts.items() if n > MODULE_LINES}


def long_functions(files: list[Path]) -> dict[str, int]:
    found = {}
    for path in files:
        tree = ast.parse(path.read_text(), str(path))
        for node in functions(tree):
            if length(node) > FUNCTION_LINES:
                found[f"{shown(path)}:{node.lineno} {node.name}"] = length(node)
    return found


def test_the_folders_hold_the_code():
    files = python_files()
    assert len(files) > 80
    assert ROOT / "services" / "common" / "protocol.py" in files


def test_no_module_is_over_500_lines():
    assert long_modules(python_files()) == {}


def test_no_function_is_over_60_lines():
    assert long_functions(python_files()) == {}


def test_the_measures_count_what_they_should(tmp_path):
    source = tmp_path / "sample.py"
    body = "\n".join(f"    x{i} = {i}" for i in range(60))
    source.write_text(f"@decorated\ndef long():\n{body}\n\n\nasync def short():\n    pass\n")
    tree = ast.parse(source.read_text())
    assert {n.name: length(n) for n in functions(tree)} == {"long": 62, "short": 2}
    assert long_functions([source]) == {"sample.py:2 long": 62}
    source.write_text("x = 1\n" * 501)
    assert long_modules([source]) == {"sample.py": 501}
