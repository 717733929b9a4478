"""TensorFlow's C++ start-up lines stay off stderr; real errors and Python output get through.

Each test runs a fresh Python process: the lines are written to file descriptor 2 by C++ while
TensorFlow is imported, which only a new process shows.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
BIN = Path(sys.executable).parent
BANNER = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
ABSL_RECORD = re.compile(r"^[IWEF]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] ", re.MULTILINE)

# Lines as TensorFlow 2.21 prints them on a machine without a GPU driver, plus ones that must stay.
STARTUP = [
    BANNER,
    "I0000 00:00:1796145298.924199    5671 port.cc:153] oneDNN custom operations are on.",
    "I0000 00:00:1796145298.924600    5671 cudart_stub.cc:31] Could not find cuda drivers on "
    "your machine, GPU will not be used.",
    "W0000 00:00:1796145298.924700    5671 some_file.cc:12] a warning below level 2",
    "E0000 00:00:1796145310.236661    5671 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    "E0000 00:00:1796149260.896865    9806 util.cc:131] oneDNN supports DT_INT32 only on "
    "platforms with AVX-512. Falling back to the default Eigen-based implementation if present.",
]
KEPT = [
    "E0000 00:00:1796145310.300000    5671 op_kernel.cc:1830] a genuine TensorFlow error",
    "plain text from a library",
]


def run_python(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def test_filter_drops_startup_lines_and_keeps_the_rest_in_order():
    code = f"""
    import os, sys
    from ner_crf._tf_quiet import filtered_stderr
    with filtered_stderr(2):
        for line in {STARTUP + KEPT[:1]!r}:
            os.write(2, (line + "\\n").encode())
        print("python stderr line", file=sys.stderr)
        os.write(2, {KEPT[1]!r}.encode() + b"\\n")
    print("after the block", file=sys.stderr)
    """
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [KEPT[0], "python stderr line", KEPT[1], "after the block"]


def test_cuinit_error_is_kept_when_a_driver_was_found():
    # Without the "Could not find cuda drivers" line a failing cuInit is a real GPU problem.
    cuinit = STARTUP[4]
    code = f"""
    import os
    from ner_crf._tf_quiet import filtered_stderr
    with filtered_stderr(2):
        os.write(2, {cuinit!r}.encode() + b"\\n")
    """
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [cuinit]


def test_lines_written_just_before_an_abort_are_not_lost():
    fatal = "F0000 00:00:1796145310.400000    5671 cpu_feature_guard.cc:90] fatal at import"
    code = f"""
    import os
    from ner_crf._tf_quiet import filtered_stderr
    with filtered_stderr(2):
        os.write(2, {fatal!r}.encode() + b"\\n")
        os.abort()
    """
    proc = run_python(code)
    assert proc.returncode != 0
    assert fatal in proc.stderr.splitlines()


def test_commands_start_quietly_unless_verbose(tmp_path):
    run_dir = tmp_path / "run"
    overrides = [
        f"data.train={DATA / 'train.txt'}",
        f"data.dev={DATA / 'dev.txt'}",
        "training.epochs=1",
        "model.word_dim=8",
        "model.char.units=4",
        "model.lstm.units=8",
        "output.tensorboard=false",
    ]
    sets = [item for override in overrides for item in ("--set", override)]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}

    def ner_crf(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / "ner-crf"), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
        )

    train = ner_crf("train", "-c", str(REPO / "configs/default.yaml"), *sets, "-o", str(run_dir))
    assert train.returncode == 0, train.stderr
    predict = ner_crf("predict", "-m", str(run_dir), input="Anna met Bob in Paris.\n")
    assert predict.returncode == 0, predict.stderr
    for proc in (train, predict):
        assert BANNER not in proc.stderr
        assert ABSL_RECORD.findall(proc.stderr) == [], proc.stderr
        assert "cuInit" not in proc.stderr
    assert "epoch 1" in train.stderr  # our own progress still shows
    # The same start-up with -v shows TensorFlow's lines: the filter, not luck, hid them above.
    verbose = ner_crf("-v", "info", "-m", str(run_dir))
    assert verbose.returncode == 0, verbose.stderr
    assert BANNER in verbose.stderr and ABSL_RECORD.search(verbose.stderr)
