"""Importing TensorFlow without its C++ start-up lines on stderr.

TensorFlow 2.21 logs through absl before it reads ``TF_CPP_MIN_LOG_LEVEL``, so every process that
imports it prints, once per shared library that carries absl, ``WARNING: All log messages before
absl::InitializeLog() ...`` and INFO lines about oneDNN and CUDA, then ``E... failed call to
cuInit`` when the first device query finds no GPU driver. They are written to file descriptor 2
by C++, below Python, so Python's ``logging`` and ``warnings`` filters never see them.

:func:`import_tensorflow` points descriptor 2 at a pipe while it imports TensorFlow, lists its
devices (the two moments those lines appear) and runs one int32 transpose: TensorFlow's oneDNN
build prints ``E... oneDNN supports DT_INT32 only on platforms with AVX-512. Falling back to the
default Eigen-based implementation`` once per process, at the first int32 or bool transpose
outside XLA, even on CPUs with AVX-512, so it is triggered here, where it can be dropped. A small
filter process copies every line from the pipe to the real stderr except:

- the absl banner ``WARNING: All log messages before absl::InitializeLog() ...``;
- absl records (``I0000 00:00:... file.cc:NN] ...``) below ``TF_CPP_MIN_LOG_LEVEL`` (0 INFO,
  1 WARNING, 2 ERROR, 3 FATAL): the level TensorFlow applies itself once it has read it;
- the ``failed call to cuInit`` error when there is no GPU to use (the driver library was not
  found, or CUDA reports no device); any other CUDA error stays;
- that oneDNN fallback notice (a notice logged at ERROR; results are unaffected).

Everything else, ERROR and FATAL records and Python output included, passes through unchanged
and in order. The filter is a separate process, not a thread, so that a TensorFlow abort during
import still gets its last lines out (the filter drains the pipe after we die) and C++ writers
never wait for our GIL.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

# Runs in the filter process (python -I -S: no site, no user paths, quick to start).
_FILTER = rb"""
import re, sys
level = int(sys.argv[1])
record = re.compile(rb"([IWEF])\d{4} [\d:.]+ +\d+ ([\w.]+):\d+\] ")
onednn_notice = re.compile(rb"oneDNN supports DT_\w+ only on platforms with AVX-512\. Fall")
banner = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
out = sys.stdout.buffer
no_driver = False
for line in sys.stdin.buffer:
    match = record.match(line)
    if match:
        severity = b"IWEF".index(match.group(1))
        if b"Could not find cuda drivers" in line:
            no_driver = True
        if severity < level:
            continue
        if b"failed call to cuInit" in line and (no_driver or b"CUDA_ERROR_NO_DEVICE" in line):
            continue
        if onednn_notice.search(line):
            continue
    elif line.rstrip(b"\r\n") == banner:
        continue
    out.write(line)
    out.flush()
"""


def _min_log_level() -> int:
    """``TF_CPP_MIN_LOG_LEVEL`` as TensorFlow reads it (unset or unparsable: 0)."""
    try:
        return max(0, int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0")))
    except ValueError:
        return 0


@contextlib.contextmanager
def filtered_stderr(min_level: int) -> Iterator[None]:
    """Within the block, descriptor 2 goes through the start-up line filter (see module doc).

    Does nothing when descriptor 2 is not open or the filter cannot be started.
    """
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        command = [sys.executable, "-I", "-S", "-c", _FILTER.decode(), str(min_level)]
        filt = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=saved)
    except OSError:
        os.close(saved)
        yield
        return
    assert filt.stdin is not None
    os.dup2(filt.stdin.fileno(), 2)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        filt.stdin.close()
        # The filter exits once every writer has closed the pipe. A child process started inside
        # the block (none is, today) would keep it open; then leave the filter to finish alone.
        with contextlib.suppress(subprocess.TimeoutExpired):
            filt.wait(timeout=10)


def import_tensorflow(
    quiet: bool = True, before_first_op: Callable[[Any], None] | None = None
) -> Any:
    """Imports TensorFlow and starts its runtime; ``quiet`` filters the start-up lines.

    Without ``quiet``, after TensorFlow was imported already, or with ``TF_CPP_MIN_LOG_LEVEL=0``
    (all records wanted), nothing is filtered.

    Args:
        quiet: Filter the start-up lines (see the module docstring).
        before_first_op: Called with the ``tensorflow`` module before the first operation runs,
            for settings TensorFlow only accepts before its runtime starts (thread pools).
    """
    level = _min_log_level()
    if not quiet or level == 0 or "tensorflow" in sys.modules:
        import tensorflow as tf

        if before_first_op is not None:
            before_first_op(tf)
        return tf
    with filtered_stderr(level):
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe (cuInit) happens here
        if before_first_op is not None:
            before_first_op(tf)
        tf.transpose(tf.zeros([1, 1], tf.int32))  # the oneDNN notice, if this build prints it
    return tf
