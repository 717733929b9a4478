"""Optimizers and learning-rate schedules built from ``cfg.training``.

Schedules (``training.lr_schedule``), with ``s`` the optimizer step, ``E = s / steps_per_epoch``
the (fractional) epoch and ``lr0 = training.learning_rate``:

* ``constant``: ``lr0``.
* ``exponential``: ``lr0 * (1 - decay_rate) ** E`` -- the rate shrinks by ``decay_rate`` per epoch,
  smoothly per step.
* ``inverse_time``: ``lr0 / (1 + decay_rate * E)`` (Ma and Hovy 2016 use ``decay_rate=0.05``
  with SGD).
* ``cosine``: ``lr0 * 0.5 * (1 + cos(pi * s / total_steps))``, reaching 0 at the last step.
* ``linear_warmup``: linear decay from ``lr0`` to 0 at the last step (after the warm-up).

With ``warmup_steps > 0`` every schedule is preceded by a linear warm-up from ``lr0 / warmup_steps``
to ``lr0`` over the first ``warmup_steps`` steps; the decay then counts steps after the warm-up.
The schedule depends only on the optimizer's iteration counter, so a resumed run reproduces it.

Gradient clipping is not configured on the Keras optimizer: the trainer clips the all-reduced
(global) gradient itself, because Keras 3 clips before its cross-replica all-reduce.

Adam and AdamW run their per-variable update as TensorFlow's fused ``ResourceApplyAdam`` kernel
(:class:`FusedAdam`, :class:`FusedAdamW`): the same arithmetic as Keras' Adam
(``m += (g - m)(1 - b1)``, ``v += (g^2 - v)(1 - b2)``,
``w -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)``) in one multi-threaded kernel
instead of about ten element-wise ops per variable, which took more time than the forward and
backward pass for the 2M-parameter word embedding on CPU. The slots, iteration counter and
checkpoint layout are Keras' own (the subclasses only override ``update_step``).
"""

from __future__ import annotations

import math
from typing import Any

import keras

from ner_crf.errors import ConfigError

SCHEDULES = ("constant", "exponential", "inverse_time", "cosine", "linear_warmup")
OPTIMIZERS = ("adam", "adamw", "sgd")


@keras.saving.register_keras_serializable(package="ner_crf")
class NerLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """The learning rate as a function of the step (see the module docstring).

    Args:
        kind: One of :data:`SCHEDULES`.
        initial: ``lr0``.
        steps_per_epoch: Optimizer steps per epoch (for the per-epoch decays).
        total_steps: Steps of the whole run (for ``cosine`` and ``linear_warmup``).
        warmup_steps: Linear warm-up length, 0 = none.
        decay_rate: Rate of the ``exponential`` and ``inverse_time`` decays.
    """

    def __init__(
        self,
        kind: str,
        initial: float,
        *,
        steps_per_epoch: int,
        total_steps: int,
        warmup_steps: int = 0,
        decay_rate: float = 0.0,
    ):
        if kind not in SCHEDULES:
            raise ValueError(f"`kind` must be one of {SCHEDULES}, received {kind!r}")
        self.kind = kind
        self.initial = float(initial)
        self.steps_per_epoch = max(int(steps_per_epoch), 1)
        self.total_steps = max(int(total_steps), 1)
        self.warmup_steps = max(int(warmup_steps), 0)
        self.decay_rate = float(decay_rate)

    def __call__(self, step: Any) -> Any:
        step = keras.ops.cast(step, "float32")
        lr0 = keras.ops.cast(self.initial, "float32")
        warmup = float(self.warmup_steps)
        after = keras.ops.maximum(step - warmup, 0.0)  # steps after the warm-up
        if self.kind == "constant":
            rate = lr0
        elif self.kind == "exponential":
            epochs = after / self.steps_per_epoch
            rate = lr0 * keras.ops.power(1.0 - self.decay_rate, epochs)
        elif self.kind == "inverse_time":
            epochs = after / self.steps_per_epoch
            rate = lr0 / (1.0 + self.decay_rate * epochs)
        else:
            span = max(float(self.total_steps) - warmup, 1.0)
            progress = keras.ops.minimum(after / span, 1.0)
            if self.kind == "cosine":
                rate = lr0 * 0.5 * (1.0 + keras.ops.cos(math.pi * progress))
            else:  # linear_warmup: warm-up (below), then linear decay to 0
                rate = lr0 * (1.0 - progress)
        if self.warmup_steps > 0:
            ramp = keras.ops.minimum((step + 1.0) / warmup, 1.0)
            rate = rate * ramp
        return rate

    def get_config(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "initial": self.initial,
            "steps_per_epoch": self.steps_per_epoch,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "decay_rate": self.decay_rate,
        }


class _FusedAdamUpdate:
    """Mixin: ``update_step`` of Keras' Adam as one ``ResourceApplyAdam`` kernel (TF backend).

    Reads the slots the way ``keras.optimizers.Adam.update_step`` itself does
    (``_momentums`` / ``_velocities`` at ``_get_variable_index``); when those are not there (a
    Keras change) or AMSGrad is on, it falls back to the stock update.
    """

    def update_step(self, gradient, variable, learning_rate):  # noqa: D102
        import tensorflow as tf

        momentums = getattr(self, "_momentums", None)
        velocities = getattr(self, "_velocities", None)
        handle = getattr(variable, "handle", None)
        if self.amsgrad or momentums is None or velocities is None or handle is None:
            return super().update_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)
        m = _tf_variable(momentums[index])
        v = _tf_variable(velocities[index])
        dtype = variable.dtype
        if isinstance(gradient, tf.IndexedSlices):
            gradient = tf.convert_to_tensor(gradient)  # sums repeated rows
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=handle,
            m=m.handle,
            v=v.handle,
            beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
            use_locking=False,
        )
        return None


def _tf_variable(variable: Any) -> Any:
    """The TensorFlow variable behind a Keras variable (a ``MirroredVariable`` when mirrored)."""
    return getattr(variable, "value", variable) if not hasattr(variable, "handle") else variable


@keras.saving.register_keras_serializable(package="ner_crf")
class FusedAdam(_FusedAdamUpdate, keras.optimizers.Adam):
    """``keras.optimizers.Adam`` with the fused TensorFlow update kernel (same arguments)."""


@keras.saving.register_keras_serializable(package="ner_crf")
class FusedAdamW(_FusedAdamUpdate, keras.optimizers.AdamW):
    """``keras.optimizers.AdamW`` with the fused TensorFlow update kernel (same arguments).

    The decoupled weight decay is applied by Keras before ``update_step``, as in ``AdamW``.
    """


def make_schedule(train_cfg: Any, steps_per_epoch: int) -> NerLearningRate:
    """Builds the learning-rate schedule of ``train_cfg``.

    Args:
        train_cfg: The ``training`` config section.
        steps_per_epoch: Optimizer steps per epoch.

    Returns:
        The schedule.

    Raises:
        ConfigError: For an unknown schedule name.
    """
    kind = train_cfg.lr_schedule
    if kind not in SCHEDULES:
        raise ConfigError(
            f"unknown lr_schedule {kind!r}; expected one of {', '.join(SCHEDULES)}",
            key="training.lr_schedule",
        )
    return NerLearningRate(
        kind,
        train_cfg.learning_rate,
        steps_per_epoch=steps_per_epoch,
        total_steps=steps_per_epoch * train_cfg.epochs,
        warmup_steps=train_cfg.warmup_steps,
        decay_rate=train_cfg.decay_rate,
    )


def make_optimizer(train_cfg: Any, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """Builds the optimizer of ``train_cfg`` (call inside ``strategy.scope()``).

    Under ``mixed_precision`` the optimizer is wrapped in a dynamic
    ``keras.optimizers.LossScaleOptimizer``.

    Args:
        train_cfg: The ``training`` config section.
        steps_per_epoch: Optimizer steps per epoch (for the schedule).

    Returns:
        The optimizer.

    Raises:
        ConfigError: For an unknown optimizer name.
    """
    schedule = make_schedule(train_cfg, steps_per_epoch)
    name = train_cfg.optimizer
    if name == "adam":
        optimizer = FusedAdam(learning_rate=schedule)
    elif name == "adamw":
        optimizer = FusedAdamW(learning_rate=schedule, weight_decay=train_cfg.weight_decay)
    elif name == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=train_cfg.momentum)
    else:
        raise ConfigError(
            f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}",
            key="training.optimizer",
        )
    if getattr(train_cfg, "mixed_precision", False):
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def current_learning_rate(optimizer: keras.optimizers.Optimizer) -> float:
    """The learning rate the next step will use, as a Python float."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    rate = inner.learning_rate
    if callable(rate):
        rate = rate(inner.iterations)
    return float(keras.ops.convert_to_numpy(rate))
