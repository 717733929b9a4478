"""Choosing a ``tf.distribute`` strategy from ``cfg.training``.

Strategies (``training.strategy``):

* ``auto``: :class:`tf.distribute.MirroredStrategy` over all GPUs when more than one GPU is
  visible, else the default (single-device) strategy. When ``logical_cpu_devices`` > 1 splits
  the CPU and no GPU is visible, the logical CPUs are mirrored.
* ``cpu``: the default strategy pinned to ``/cpu:0`` (GPUs are ignored).
* ``mirrored``: synchronous data parallelism on one machine over ``training.devices``, or all
  GPUs, or (without GPUs) all logical CPU devices.
* ``multi_worker``: :class:`tf.distribute.MultiWorkerMirroredStrategy`; the cluster comes from
  the ``TF_CONFIG`` environment variable, which must be set before the process starts.

The global batch (``training.batch_size``) is produced by the input pipeline and split across
replicas by ``strategy.experimental_distribute_dataset``.

TensorFlow is imported inside the functions: this module is importable without paying for TF.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from ner_crf.errors import ConfigError

logger = logging.getLogger(__name__)

STRATEGIES = ("auto", "cpu", "mirrored", "multi_worker")


@dataclass(frozen=True)
class WorkerInfo:
    """Where this process sits in a (possibly multi-worker) cluster.

    Attributes:
        task_type: ``"chief"``, ``"worker"``, ... or ``None`` outside a cluster.
        task_id: Index of this task within its type (0 outside a cluster).
        is_chief: Whether this process writes the run directory.
        num_workers: Number of processes taking part in training.
    """

    task_type: str | None
    task_id: int
    is_chief: bool
    num_workers: int


def read_tf_config() -> dict[str, Any]:
    """Parses and validates the ``TF_CONFIG`` environment variable.

    Returns:
        The parsed dictionary with ``cluster`` and ``task`` entries.

    Raises:
        ConfigError: When ``TF_CONFIG`` is missing, not JSON, or lacks a usable cluster/task.
    """
    raw = os.environ.get("TF_CONFIG")
    key = "training.strategy"
    if not raw:
        raise ConfigError(
            "strategy 'multi_worker' needs the TF_CONFIG environment variable, which is not set; "
            'set it in every worker, e.g. TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", '
            '"host2:12345"]}, "task": {"type": "worker", "index": 0}}\'',
            key=key,
        )
    try:
        tf_config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ConfigError(f"TF_CONFIG is not valid JSON ({error}): {raw!r}", key=key) from None
    if not isinstance(tf_config, dict):
        raise ConfigError(f"TF_CONFIG must be a JSON object, got {raw!r}", key=key)
    cluster = tf_config.get("cluster")
    task = tf_config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise ConfigError(
            'TF_CONFIG has no "cluster" mapping of task types to "host:port" lists', key=key
        )
    for task_type, addresses in cluster.items():
        if not isinstance(addresses, list) or not all(
            isinstance(address, str) and ":" in address for address in addresses
        ):
            raise ConfigError(
                f'TF_CONFIG cluster["{task_type}"] must be a list of "host:port" strings, '
                f"got {addresses!r}",
                key=key,
            )
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ConfigError(
            'TF_CONFIG has no "task" with "type" and "index" (which worker is this process?)',
            key=key,
        )
    task_type, index = task["type"], task["index"]
    if task_type not in cluster:
        raise ConfigError(
            f'TF_CONFIG task type "{task_type}" is not in the cluster '
            f"(types: {', '.join(sorted(cluster))})",
            key=key,
        )
    if not isinstance(index, int) or not 0 <= index < len(cluster[task_type]):
        raise ConfigError(
            f'TF_CONFIG task index {index!r} is out of range for "{task_type}" '
            f"({len(cluster[task_type])} addresses)",
            key=key,
        )
    return tf_config


def configure_logical_cpus(count: int) -> None:
    """Splits the physical CPU into ``count`` logical devices.

    Must run before TensorFlow initialises its devices (before the first op,
    ``list_logical_devices`` or strategy creation). Calling it again with the same count is a no-op.

    Args:
        count: Number of logical CPU devices; 0 or 1 leaves the CPU alone.

    Raises:
        ConfigError: When TensorFlow's devices are already initialised with another layout.
    """
    if count <= 1:
        return
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    current = tf.config.get_logical_device_configuration(cpus[0])
    if current is not None and len(current) == count:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    except RuntimeError as error:
        raise ConfigError(
            f"cannot split the CPU into {count} logical devices: TensorFlow's devices are "
            f"already initialised in this process ({error}); set logical_cpu_devices in a fresh "
            "process before any TensorFlow op runs",
            key="training.logical_cpu_devices",
        ) from None
    logger.info("split the CPU into %d logical devices", count)


def make_strategy(train_cfg: Any) -> Any:
    """Creates the distribution strategy described by ``train_cfg``.

    Call this before any other TensorFlow work in the process (logical devices and collective
    ops for multi-worker training must be configured at start-up).

    Args:
        train_cfg: The ``training`` section of the config (``strategy``, ``devices``,
            ``logical_cpu_devices``).

    Returns:
        A ``tf.distribute.Strategy``.

    Raises:
        ConfigError: For an unknown strategy, unusable devices, or a missing/invalid ``TF_CONFIG``.
    """
    name = getattr(train_cfg, "strategy", "auto") or "auto"
    devices = list(getattr(train_cfg, "devices", None) or [])
    logical_cpus = int(getattr(train_cfg, "logical_cpu_devices", 0) or 0)
    if name not in STRATEGIES:
        raise ConfigError(
            f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}",
            key="training.strategy",
        )
    if name == "multi_worker":
        # Validate first: a clear message beats TensorFlow's resolver errors.
        tf_config = read_tf_config()
    configure_logical_cpus(logical_cpus)

    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if name == "multi_worker":
        if gpus:
            # Recommended by the TF GPU guide when several processes may share a GPU.
            for gpu in gpus:
                with contextlib.suppress(RuntimeError):  # devices already initialised
                    tf.config.experimental.set_memory_growth(gpu, True)
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.AUTO
        )
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        logger.info(
            "multi-worker strategy: task %s/%s, %d replicas in sync",
            tf_config["task"]["type"],
            tf_config["task"]["index"],
            strategy.num_replicas_in_sync,
        )
        return strategy
    if name == "cpu":
        logger.info("strategy: one CPU device")
        return tf.distribute.OneDeviceStrategy("/cpu:0")
    if name == "auto":
        if len(gpus) > 1:
            strategy = tf.distribute.MirroredStrategy()
            logger.info("strategy: mirrored over %d GPUs", strategy.num_replicas_in_sync)
            return strategy
        if not gpus and logical_cpus > 1:
            return _mirrored_cpus()
        logger.info("strategy: default (%s)", "one GPU" if gpus else "CPU")
        return tf.distribute.get_strategy()
    # mirrored
    if devices:
        known = {device.name.lower() for device in tf.config.list_logical_devices()}
        wanted = [_canonical_device(device) for device in devices]
        pairs = zip(devices, wanted, strict=True)
        missing = [dev for dev, can in pairs if can.lower() not in known]
        if missing:
            raise ConfigError(
                f"unknown device(s) {', '.join(missing)}; available: {', '.join(sorted(known))}",
                key="training.devices",
            )
        strategy = tf.distribute.MirroredStrategy(
            devices=wanted, cross_device_ops=_cross_device_ops(tf, wanted)
        )
    elif gpus:
        strategy = tf.distribute.MirroredStrategy()
    else:
        return _mirrored_cpus()
    logger.info("strategy: mirrored over %s", ", ".join(strategy.extended.worker_devices))
    return strategy


def _canonical_device(device: str) -> str:
    """Turns ``cpu:1`` / ``/gpu:0`` / ``/device:GPU:0`` into a full local device name."""
    text = device.strip().lstrip("/")
    if text.lower().startswith("device:"):
        text = text[len("device:") :]
    kind, _, index = text.partition(":")
    return f"/job:localhost/replica:0/task:0/device:{kind.upper()}:{index or 0}"


def _cross_device_ops(tf: Any, devices: list[str]) -> Any:
    """NCCL needs GPUs; any CPU replica means reducing through one device."""
    if any(":CPU:" in device for device in devices):
        return tf.distribute.ReductionToOneDevice(reduce_to_device="/cpu:0")
    return None  # MirroredStrategy's own choice (NCCL all-reduce on GPUs)


def _mirrored_cpus() -> Any:
    import tensorflow as tf

    cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
    if len(cpus) < 2:
        logger.warning(
            "mirrored strategy on a single CPU device: set training.logical_cpu_devices >= 2 "
            "to get several replicas without GPUs"
        )
    strategy = tf.distribute.MirroredStrategy(
        devices=cpus, cross_device_ops=tf.distribute.ReductionToOneDevice(reduce_to_device=cpus[0])
    )
    logger.info("strategy: mirrored over %d logical CPU devices", len(cpus))
    return strategy


def worker_info(strategy: Any) -> WorkerInfo:
    """Describes this process's role: chief (writes files) or not.

    Follows the TF multi-worker guide: the task of type ``chief``, or worker 0 when the cluster
    has no chief, is the chief.

    Args:
        strategy: The strategy returned by :func:`make_strategy`.

    Returns:
        The :class:`WorkerInfo`.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None) if resolver is not None else None
    if resolver is None or task_type is None:
        return WorkerInfo(task_type=None, task_id=0, is_chief=True, num_workers=1)
    task_id = int(resolver.task_id or 0)
    cluster = resolver.cluster_spec().as_dict()
    has_chief = "chief" in cluster
    is_chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief)
    num_workers = sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))
    return WorkerInfo(
        task_type=task_type, task_id=task_id, is_chief=is_chief, num_workers=num_workers
    )
