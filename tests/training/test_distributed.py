"""Distribution tests: each runs in fresh subprocesses (logical devices and collective ops must be
configured before TensorFlow initialises, and a SIGKILL needs a separate process)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]

MIRRORED_SCRIPT = """
import json, os, sys
from pathlib import Path
from types import SimpleNamespace
sys.path.insert(0, {repo!r})
from ner_crf.training.strategy import configure_logical_cpus, make_strategy
configure_logical_cpus(2)
import keras
import numpy as np
import tensorflow as tf
from ner_crf.config import config_from_dict
from ner_crf.data.conll import read_conll
from ner_crf.data.pipeline import DatasetBuilder, SentenceEncoder
from ner_crf.data.vocab import build_vocabularies
from ner_crf.model.builder import build_model
from ner_crf.training.optim import make_optimizer
from ner_crf.training.step import make_train_step
from tests.training import tiny_config_dict

raw = tiny_config_dict(Path({tmp!r}), clip_norm={clip}, learning_rate=0.01)
raw["model"]["dropout"] = 0.0
cfg = config_from_dict(raw)
sentences = read_conll(cfg.data.train, scheme="IOBES")
vocabs = build_vocabularies(sentences)
encoder = SentenceEncoder(vocabs.words, vocabs.chars, vocabs.tags)
builder = DatasetBuilder(sentences, encoder, batch_size=8, shuffle=True, seed=3)

def run(strategy):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = build_model(cfg, num_words=len(vocabs.words), num_chars=len(vocabs.chars),
                            num_tags=len(vocabs.tags), tag_names=list(vocabs.tags.tokens))
        optimizer = make_optimizer(cfg.training, steps_per_epoch=10)
        optimizer.build(model.trainable_variables)
    dist = strategy.experimental_distribute_dataset(builder.dataset(0).take(3))
    step = make_train_step(strategy, model, optimizer, dist.element_spec, clip_norm={clip})
    losses = [float(step(batch)[0]) for batch in dist]
    return losses, [np.asarray(w) for w in model.get_weights()]

mirrored = make_strategy(SimpleNamespace(strategy="mirrored", devices=(), logical_cpu_devices=2))
single = make_strategy(SimpleNamespace(strategy="cpu", devices=(), logical_cpu_devices=2))
loss2, weights2 = run(mirrored)
loss1, weights1 = run(single)
print(json.dumps({{
    "replicas": mirrored.num_replicas_in_sync,
    "loss1": loss1, "loss2": loss2,
    "max_weight_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(weights1, weights2)),
    "max_weight_change": max(float(np.max(np.abs(a))) for a in weights1),
}}))
"""

TRAIN_SCRIPT = """
import json, sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from ner_crf.config import config_from_dict
from ner_crf.training.trainer import train
raw = json.loads(Path(sys.argv[1]).read_text())
result = train(config_from_dict(raw), resume="--resume" in sys.argv, progress=False)
print(json.dumps({{"epochs": result.epochs_completed, "best_f1": result.best_dev_f1}}))
"""


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO), **extra)
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def _python(script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 600):
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env=env or _env(),
        timeout=timeout,
        cwd=REPO,
    )


def test_logical_cpus_too_late_is_a_config_error() -> None:
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        import tensorflow as tf
        tf.constant(1.0) + 1.0  # initialises the devices
        from ner_crf.errors import ConfigError
        from ner_crf.training.strategy import configure_logical_cpus
        try:
            configure_logical_cpus(3)
        except ConfigError as error:
            print("ERROR", error.key, error)
    """)
    done = _python(script)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ERROR training.logical_cpu_devices" in done.stdout
    assert "already initialised" in done.stdout


@pytest.mark.slow
def test_mirrored_two_logical_cpus_matches_one_device(tmp_path) -> None:
    done = _python(MIRRORED_SCRIPT.format(repo=str(REPO), tmp=str(tmp_path), clip=0.5))
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["replicas"] == 2
    np.testing.assert_allclose(out["loss2"], out["loss1"], rtol=1e-5)
    assert out["loss1"][0] != out["loss1"][-1]  # training moved
    assert out["max_weight_diff"] < 1e-5


def _free_ports(count: int) -> list[int]:
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


@pytest.mark.slow
def test_multi_worker_two_local_processes(tmp_path) -> None:
    from tests.training import tiny_config_dict

    raw = tiny_config_dict(tmp_path, epochs=1, strategy="multi_worker")
    config = tmp_path / "config.json"
    config.write_text(json.dumps(raw))
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    script = TRAIN_SCRIPT.format(repo=str(REPO))
    workers = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        workers.append(
            subprocess.Popen(
                [sys.executable, "-c", script, str(config)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=_env(TF_CONFIG=tf_config),
                cwd=REPO,
            )
        )
    outputs = [worker.communicate(timeout=900) for worker in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err[-3000:]
    run = Path(raw["output"]["dir"])
    for name in ("config.yaml", "model.keras", "last.keras", "metrics.json"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["replicas"] == 2
    assert json.loads((run / "checkpoints" / "latest.json").read_text())["epoch"] == 1
    # Both workers agree on the dev score (same weights everywhere).
    scores = [json.loads(out.strip().splitlines()[-1])["best_f1"] for out, _ in outputs]
    assert scores[0] == pytest.approx(scores[1])


def _checkpoint_values(run: Path) -> dict[str, np.ndarray]:
    import tensorflow as tf

    pointer = json.loads((run / "checkpoints" / "latest.json").read_text())
    reader = tf.train.load_checkpoint(str(run / "checkpoints" / pointer["checkpoint"]))
    names = reader.get_variable_to_shape_map()
    return {name: reader.get_tensor(name) for name in names if "OBJECT_GRAPH" not in name}


@pytest.mark.slow
def test_killed_and_resumed_run_matches_uninterrupted(tmp_path) -> None:
    from tests.training import tiny_config_dict, write_corpus

    script = TRAIN_SCRIPT.format(repo=str(REPO))
    configs = {}
    for name in ("straight", "killed"):
        raw = tiny_config_dict(tmp_path / name, epochs=4, deterministic=True)
        raw["data"] = write_corpus(tmp_path / "data", train=400, dev=40)
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(raw))
        configs[name] = (path, Path(raw["output"]["dir"]))

    straight = _python(script, str(configs["straight"][0]), timeout=900)
    assert straight.returncode == 0, straight.stderr[-3000:]

    path, run = configs["killed"]
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(),
        cwd=REPO,
    )
    pointer = run / "checkpoints" / "latest.json"
    deadline = time.monotonic() + 900
    killed_after = None
    while time.monotonic() < deadline and process.poll() is None:
        if pointer.exists():
            epoch = json.loads(pointer.read_text())["epoch"]
            if epoch >= 2:
                process.send_signal(signal.SIGKILL)
                killed_after = epoch
                break
        time.sleep(0.02)
    process.wait(timeout=60)
    assert killed_after is not None and killed_after < 4, "the run ended before it was killed"
    assert process.returncode == -signal.SIGKILL

    resumed = _python(script, str(path), "--resume", timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["epochs"] == 4

    expected = _checkpoint_values(configs["straight"][1])
    actual = _checkpoint_values(run)
    assert expected.keys() == actual.keys()
    for name, value in expected.items():
        np.testing.assert_allclose(actual[name], value, rtol=0, atol=1e-6, err_msg=name)
    history_a = json.loads((configs["straight"][1] / "metrics.json").read_text())["history"]
    history_b = json.loads((run / "metrics.json").read_text())["history"]
    assert [row["loss"] for row in history_b] == pytest.approx(
        [row["loss"] for row in history_a], abs=1e-6
    )
