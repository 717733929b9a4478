"""A bidirectional LSTM layer backed by TensorFlow's fused ``BlockLSTMV2`` kernel on CPU.

:class:`FusedBiLSTM` is a drop-in replacement for
``keras.layers.Bidirectional(keras.layers.LSTM(units, return_sequences=...))`` on right-padded,
masked batches. On CPU it runs each direction as one ``tf.raw_ops.BlockLSTMV2`` op (the whole
time loop in C++) instead of Keras' ``tf.while_loop`` of small ops; on GPU it calls ordinary
Keras ``LSTM`` layers, which take the cuDNN path.

Weight layout (identical to ``keras.layers.Bidirectional(keras.layers.LSTM(units))``): the layer
owns two Keras ``LSTM`` sublayers, ``forward_layer`` and ``backward_layer``
(``go_backwards=True``), each holding ``cell.kernel`` ``[D, 4u]``, ``cell.recurrent_kernel``
``[u, 4u]`` and ``cell.bias`` ``[4u]`` with the gates in Keras order ``i, f, c, o``. So
``layer.set_weights(bidirectional.get_weights())`` (and the reverse) converts between the two,
and both implementations share the same variables.

How the fused path maps onto ``BlockLSTMV2``:

* The op takes one weight matrix ``w = [kernel; recurrent_kernel]`` ``[D + u, 4u]``. Its gate
  layout is ``i, f, c, o`` ("IFCO", unlike ``BlockLSTM`` V1 which uses ``i, c, f, o``), the same
  as Keras, so no permutation is needed (checked against Keras in the tests).
* ``BlockLSTMV2`` has no ``forget_bias`` input: the Keras ``unit_forget_bias`` initialisation
  already stored the 1.0 in ``bias``. Cell clipping (``cell_clip=-1``) and peepholes are off;
  activations are sigmoid / tanh as in a default Keras ``LSTM``.
* TF registers V1's gradient for ``BlockLSTMV2``, which assumes the ICFO layout and is wrong. The
  op is therefore wrapped in ``tf.custom_gradient`` calling ``BlockLSTMGradV2``.
* Rows without any valid step are removed before the op runs and get zero outputs, and the op
  stops after the longest row (``seq_len_max``).

Performance notes (2-core CPU shared with other jobs, so the numbers are noisy): in isolation
(``scripts/bench_lstm.py``) the op's per-step work is small and TensorFlow's default intra-op
thread pool can cost more than it gains; ``set_intra_op_parallelism_threads(1)`` with
``set_inter_op_parallelism_threads(2)`` ran the two directions side by side and was clearly
faster there. In the whole CoNLL-2003 train step (``scripts/profile_train_step.py``, default
thread settings, word and character BiLSTMs both fused) the step took 44 and 60 ms per batch
instead of 84 and 80 ms with Keras LSTMs (two back-to-back pairs, load average 4 to 7). With
each distinct word encoded once (`CharEncoder`) and a quieter machine (load 1.5), the same
process measured fused 22.7 ms vs Keras 23.5 ms with TF's default threads, and fused 18.2 ms
vs Keras 24.8 ms with ``TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=2`` (TensorFlow reads
these environment variables at start-up); under heavy load (6 to 9) the thread settings gave
no consistent gain. ``BlockLSTMV2`` has no XLA kernel: inside ``jit_compile=True`` functions
use ``implementation="keras"``.
"""

from __future__ import annotations

import logging
import numbers
from typing import Any

import keras
import tensorflow as tf

from ner_crf.errors import ConfigError

logger = logging.getLogger(__name__)

MERGE_MODES = ("concat", "sum", "ave", "mul")
IMPLEMENTATIONS = ("auto", "fused", "keras")


def block_lstm(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, seq_len_max: tf.Tensor) -> tf.Tensor:
    """Runs a unidirectional LSTM over a time-major batch with the fused ``BlockLSTMV2`` op.

    The initial cell and hidden states are zero. The gradient is computed by
    ``BlockLSTMGradV2`` (TF's registered gradient for this op is wrong, see the module docstring).

    Args:
        x: Inputs, float32 `[time, batch, input_dim]`.
        w: Fused weights ``[kernel; recurrent_kernel]``, float32 `[input_dim + units, 4 * units]`,
            gates in the order ``i, f, c, o``.
        b: Bias, float32 `[4 * units]`.
        seq_len_max: Scalar int64, the number of time steps to run; outputs at steps
            ``>= seq_len_max`` are zero.

    Returns:
        The hidden states, float32 `[time, batch, units]`.
    """
    # Plain tensors, not variables: the custom gradient covers exactly these three inputs.
    x, w, b = (tf.convert_to_tensor(t) for t in (x, w, b))

    @tf.custom_gradient
    def _forward(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) -> Any:
        batch = tf.shape(x)[1]
        units = tf.shape(b)[0] // 4
        zero_state = tf.zeros(tf.stack([batch, units]), dtype=x.dtype)  # [batch, units]
        no_peephole = tf.zeros(tf.reshape(units, [1]), dtype=x.dtype)  # [units]
        op_inputs = {
            "seq_len_max": seq_len_max,
            "x": x,
            "cs_prev": zero_state,
            "h_prev": zero_state,
            "w": w,
            "wci": no_peephole,
            "wcf": no_peephole,
            "wco": no_peephole,
            "b": b,
        }
        # Each output is [time, batch, units]: gates i, f, o, cell input ci, cell state cs,
        # tanh(cs) co, hidden state h.
        out = tf.raw_ops.BlockLSTMV2(**op_inputs, cell_clip=-1.0, use_peephole=False)

        def _grad(h_grad: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
            grads = tf.raw_ops.BlockLSTMGradV2(
                **op_inputs,
                i=out.i,
                cs=out.cs,
                f=out.f,
                o=out.o,
                ci=out.ci,
                co=out.co,
                h=out.h,
                cs_grad=tf.zeros_like(out.cs),  # the cell states are not outputs of this function
                h_grad=h_grad,
                use_peephole=False,
            )
            return grads.x_grad, grads.w_grad, grads.b_grad

        return out.h, _grad

    return _forward(x, w, b)


@tf.custom_gradient
def _with_dense_gradient(x: tf.Tensor) -> Any:
    """Identity whose gradient is a dense tensor (a row gather's gradient is ``IndexedSlices``)."""
    return tf.identity(x), lambda dy: tf.convert_to_tensor(dy)


@keras.saving.register_keras_serializable(package="ner_crf")
class FusedBiLSTM(keras.layers.Layer):
    """Bidirectional LSTM with a fused CPU kernel, equivalent to ``Bidirectional(LSTM(units))``.

    Masking: inputs must be right-padded (every row is ``length`` valid steps followed by
    padding); the mask comes from the Keras mask of the input (``supports_masking``) or an
    explicit ``mask=`` `[batch, time]`, and ``mask=None`` means every step is valid. The fused
    path reads only the per-row count of valid steps from the mask, so a mask that is not
    right-padded gives wrong results (this is not checked, to keep the graph cheap). The forward
    direction reads steps ``0 .. length-1``, the backward direction reads them in reverse, so
    padding values never affect valid outputs.
    With ``return_sequences`` the output is `[batch, time, 2 * units]` (``concat``) or
    `[batch, time, units]` (other merge modes), zero at padded steps, and the input mask is
    propagated. Otherwise the output is the merged final states `[batch, 2 * units]`: the
    forward state after the last valid step and the backward state after step 0 (the form a
    character encoder needs); an all-padding row gives zeros. No mask is propagated then.

    Weights: see the module docstring; ``get_weights()`` order and shapes equal those of
    ``keras.layers.Bidirectional(keras.layers.LSTM(units))``.

    Mixed precision: the fused kernel always computes in float32 (inputs and the
    compute-dtype view of the weights are cast up) and the output is cast to the layer's compute
    dtype. The ``keras`` implementation follows the usual Keras mixed-precision rules.

    Args:
        units: Positive number of hidden units per direction.
        return_sequences: Return the full sequence (`[batch, time, ...]`) or the final states.
        merge_mode: How the two directions are combined: ``"concat"``, ``"sum"``, ``"ave"`` or
            ``"mul"``.
        implementation: ``"fused"`` (``BlockLSTMV2``, CPU only), ``"keras"`` (Keras ``LSTM``
            layers: cuDNN on GPU) or ``"auto"`` (``keras`` when TensorFlow sees a GPU, else
            ``fused``).
        **kwargs: Standard Keras layer arguments (``name``, ``dtype``, ...).

    Raises:
        ConfigError: If an argument is out of range, or (when built) the input is not
            `[batch, time, features]` with a known ``features``.
    """

    def __init__(
        self,
        units: int,
        *,
        return_sequences: bool = True,
        merge_mode: str = "concat",
        implementation: str = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, numbers.Integral) or units <= 0:
            raise ConfigError(
                f"`units` must be a positive integer, received {units!r}", key="units"
            )
        if merge_mode not in MERGE_MODES:
            raise ConfigError(
                f"`merge_mode` must be one of {', '.join(MERGE_MODES)}, received {merge_mode!r}",
                key="merge_mode",
            )
        if implementation not in IMPLEMENTATIONS:
            raise ConfigError(
                f"`implementation` must be one of {', '.join(IMPLEMENTATIONS)}, "
                f"received {implementation!r}",
                key="implementation",
            )
        self.units = int(units)
        self.return_sequences = bool(return_sequences)
        self.merge_mode = merge_mode
        self.implementation = implementation
        self.supports_masking = True
        # Attribute names match keras.layers.Bidirectional, so weight paths line up too.
        self.forward_layer = keras.layers.LSTM(
            units,
            return_sequences=self.return_sequences,
            dtype=self.dtype_policy,
            name="forward_lstm",
        )
        self.backward_layer = keras.layers.LSTM(
            units,
            return_sequences=self.return_sequences,
            go_backwards=True,
            dtype=self.dtype_policy,
            name="backward_lstm",
        )

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ConfigError(
                "FusedBiLSTM expects inputs [batch, time, features] with a known feature size, "
                f"received shape {tuple(input_shape)}"
            )
        self.forward_layer.build(input_shape)
        self.backward_layer.build(input_shape)

    def resolved_implementation(self) -> str:
        """Returns the implementation ``call`` uses: ``"fused"`` or ``"keras"``."""
        if self.implementation != "auto":
            return self.implementation
        return "keras" if tf.config.list_logical_devices("GPU") else "fused"

    def call(
        self, inputs: tf.Tensor, mask: tf.Tensor | None = None, training: bool | None = None
    ) -> tf.Tensor:
        if self.resolved_implementation() == "keras":
            outputs = self._call_keras(inputs, mask, training)
        else:
            outputs = self._call_fused(inputs, mask)
        return tf.cast(outputs, self.compute_dtype)

    def _merge(self, fw: tf.Tensor, bw: tf.Tensor) -> tf.Tensor:
        if self.merge_mode == "concat":
            return tf.concat([fw, bw], axis=-1)
        if self.merge_mode == "sum":
            return fw + bw
        if self.merge_mode == "ave":
            return (fw + bw) / 2
        return fw * bw

    def _call_fused(self, inputs: tf.Tensor, mask: tf.Tensor | None) -> tf.Tensor:
        x = tf.cast(inputs, tf.float32)  # [batch, time, features]
        if mask is None:
            lengths = tf.fill(tf.shape(x)[:1], tf.shape(x)[1])  # [batch]
            return self._run_fused(x, lengths, None)
        mask = tf.cast(mask, tf.bool)
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)  # [batch]
        # Rows without any valid step (padding words in a character encoder are often a third
        # of the rows) are left out of the LSTM and get zero outputs.
        keep = tf.where(lengths > 0)  # [kept, 1]
        outputs = self._run_fused(
            tf.gather_nd(_with_dense_gradient(x), keep),
            tf.gather_nd(lengths, keep),
            tf.gather_nd(mask, keep),
        )  # [kept, time, out] or [kept, out]
        out_shape = tf.concat(
            [tf.shape(lengths, out_type=tf.int64), tf.shape(outputs, tf.int64)[1:]], 0
        )
        return tf.scatter_nd(keep, outputs, out_shape)  # [batch, time, out] or [batch, out]

    def _run_fused(self, x: tf.Tensor, lengths: tf.Tensor, mask: tf.Tensor | None) -> tf.Tensor:
        """Runs both directions on `[batch, time, features]` rows that all have ``lengths >= 1``."""
        x = tf.transpose(x, [1, 0, 2])  # [time, batch, features]
        batch = tf.shape(x)[1]
        # Steps after the longest row are not run at all (their outputs are zero).
        seq_len_max = tf.cast(tf.reduce_max(tf.concat([lengths, [0]], 0)), tf.int64)

        def run(layer: keras.layers.LSTM, x_dir: tf.Tensor) -> tf.Tensor:
            cell = layer.cell
            w = tf.concat(
                [tf.cast(cell.kernel, tf.float32), tf.cast(cell.recurrent_kernel, tf.float32)],
                axis=0,
            )  # [features + units, 4 * units]
            b = tf.cast(cell.bias, tf.float32)  # [4 * units]
            return block_lstm(x_dir, w, b, seq_len_max)  # [time, batch, units]

        h_fw = run(self.forward_layer, x)  # [time, batch, units]
        # Reverse only the valid part of each row, so the backward LSTM starts at its last step.
        x_rev = tf.reverse_sequence(x, lengths, seq_axis=0, batch_axis=1)
        h_bw_rev = run(self.backward_layer, x_rev)  # [time, batch, units], reversed time

        if not self.return_sequences:
            # Both directions end at step length - 1 of their own time order.
            index = tf.stack([lengths - 1, tf.range(batch)], axis=1)  # [batch, 2]
            fw_state = tf.gather_nd(h_fw, index)  # [batch, units]
            bw_state = tf.gather_nd(h_bw_rev, index)  # [batch, units]
            return self._merge(fw_state, bw_state)

        h_bw = tf.reverse_sequence(h_bw_rev, lengths, seq_axis=0, batch_axis=1)
        outputs = tf.transpose(self._merge(h_fw, h_bw), [1, 0, 2])  # [batch, time, out]
        if mask is not None:
            # The forward LSTM ran on over the padding: zero those steps.
            outputs *= tf.cast(mask, tf.float32)[:, :, None]
        return outputs

    def _call_keras(
        self, inputs: tf.Tensor, mask: tf.Tensor | None, training: bool | None
    ) -> tf.Tensor:
        # Keras picks cuDNN on GPU for default LSTMs when the mask is right-padded.
        fw = self.forward_layer(inputs, mask=mask, training=training)
        bw = self.backward_layer(inputs, mask=mask, training=training)
        fw = tf.cast(fw, self.compute_dtype)
        bw = tf.cast(bw, self.compute_dtype)
        if not self.return_sequences:
            return self._merge(fw, bw)  # [batch, out]
        bw = tf.reverse(bw, axis=[1])  # go_backwards output is in reversed time order
        outputs = self._merge(fw, bw)  # [batch, time, out]
        if mask is not None:
            outputs *= tf.cast(mask, outputs.dtype)[:, :, None]
        return outputs

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return mask if self.return_sequences else None

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        width = 2 * self.units if self.merge_mode == "concat" else self.units
        if self.return_sequences:
            return (input_shape[0], input_shape[1], width)
        return (input_shape[0], width)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "return_sequences": self.return_sequences,
                "merge_mode": self.merge_mode,
                "implementation": self.implementation,
            }
        )
        return config
