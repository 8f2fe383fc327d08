"""A coverage-guided fuzz run of the protocol decoders (atheris/libFuzzer) within CI's budget."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNS = 300_000  # about 30 s on two cores; docs/reliability.md records a 10-million run


def test_a_fuzz_run_neither_crashes_nor_hangs_the_decoders(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            *("-m", "fuzz.protocol", f"-runs={RUNS}", "-max_len=256", "-timeout=5"),
            f"-artifact_prefix={tmp_path}/",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    # libFuzzer exits non-zero and writes a crash-* or timeout-* file on any finding
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"Done {RUNS} runs" in run.stderr
    assert list(tmp_path.iterdir()) == []
