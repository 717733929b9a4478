"""The BiLSTM-CRF tagger (`NerModel`) and `build_model`, which builds it from the config.

Architecture (Lample et al. 2016; Ma and Hovy 2016)::

    words ─► [word dropout] ─► word Embedding ─┐
    casing ─► casing Embedding (optional) ─────┼─► concat ─► Dropout ─► (BiLSTM ─► Dropout) x L
    chars ─► CharEncoder (lstm | cnn | none) ──┘
        ─► Dense(num_tags) ─► float32 emissions ─► CRF

Every BiLSTM (the word stack and the character encoder's) is a `FusedBiLSTM`: on CPU it runs
TensorFlow's fused ``BlockLSTMV2`` kernel, on GPU (or with ``implementation="keras"``) Keras
``LSTM`` layers (cuDNN). Its weights have the layout and paths of
``Bidirectional(LSTM(units))``, so the implementation is a run-time choice: ``.keras`` files and
checkpoints load whatever the setting (`NerModel.set_lstm_implementation` switches it).

`NerModel.call` returns the emissions; the CRF negative log-likelihood is the training loss
(`NerModel.compute_loss`), so a plain ``model.compile(optimizer=...)`` + ``model.fit(dataset)``
trains it, and ``model.predict`` decodes (`NerModel.predict_step`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from ner_crf.crf.layer import CRF, nll_loss
from ner_crf.errors import ConfigError, ModelError
from ner_crf.model.fused_lstm import IMPLEMENTATIONS, FusedBiLSTM
from ner_crf.model.layers import CHAR_ENCODERS, CharEncoder, WordDropout

logger = logging.getLogger(__name__)

PAD_ID = 0
UNK_ID = 1


def _crf_constraints(scheme: str, tag_names: Sequence[str]) -> dict:
    """Returns the CRF constructor arguments that forbid transitions illegal under ``scheme``."""
    from ner_crf.crf import constraints

    try:
        return {
            "allowed_transitions": [
                list(pair) for pair in constraints.allowed_transitions(scheme, tag_names)
            ],
            "allowed_start": list(constraints.allowed_start(scheme, tag_names)),
            "allowed_end": list(constraints.allowed_end(scheme, tag_names)),
        }
    except ValueError as error:
        raise ModelError(f"cannot constrain the CRF to scheme {scheme}: {error}") from None


class _ModelCRF(CRF):
    """The `CRF` layer as `NerModel` holds it: without the ``loss`` property.

    Keras' ``.keras`` loader walks every attribute of every layer, and ``CRF.loss`` returns a new
    ``CRFLoss`` (which points back at the layer) on each access, so loading recursed without end
    (``RecursionError`` in ``saving_lib._load_state``). `NerModel` computes its loss itself and
    never needs ``crf.loss``. The class is never serialized (`NerModel` builds it from its own
    config), and its weights and config are exactly those of `CRF`.
    """

    loss = None


class Bidirectional(FusedBiLSTM):
    """The word-level `FusedBiLSTM` of `NerModel`, named so that older `.keras` files still load.

    Keras' ``.keras`` writer names the entries of a list attribute (``NerModel.bilstms``) after
    their class: models saved before the word BiLSTM became a `FusedBiLSTM` store its weights
    under ``bilstms/bidirectional/...`` (``keras.layers.Bidirectional``). This subclass changes
    nothing but the class name, so those files and new ones have the same weight paths.
    ``tf.train.Checkpoint`` paths use attribute names and are unaffected. It is never serialized
    on its own (`NerModel` rebuilds it from its own config).
    """


@keras.saving.register_keras_serializable(package="ner_crf")
class NerModel(keras.Model):
    """BiLSTM-CRF sequence tagger.

    ``call`` maps the features to CRF emissions; the CRF layer (``self.crf``) holds the transition
    parameters and does the log-likelihood and decoding. All hyper-parameters are constructor
    arguments and part of ``get_config``; the pretrained embedding matrix and the singleton word
    ids are not (they are initial values of weights, and the saved weights carry them).

    Masking: word id 0 is padding (sentences are right-padded). The mask ``words != 0`` is
    rebuilt from the features wherever it is needed and passed explicitly to the BiLSTMs and to
    the CRF, so padding positions never change the loss or the decoded tags (decoded tags at
    padding positions are whatever the CRF returns there and must be ignored).

    Args:
        num_words: Number of training words (PAD=0, UNK=1 included): ids with trainable rows.
        num_pretrained_words: Number of words that only the pretrained vectors file has (ids
            ``num_words ..``), looked up in the frozen table `pretrained_words` (see
            `ner_crf.model.pretrained`); 0 = none.
        num_chars: Character vocabulary size (PAD=0, UNK=1 included).
        num_tags: Number of tags (the CRF's K).
        tag_names: The tag strings, index = tag id.
        scheme: Tag scheme of ``tag_names`` (``BIO``, ``IOB1`` or ``IOBES``).
        num_casing: Number of casing feature values (``ner_crf.data.pipeline.NUM_CASING``).
        word_dim: Word embedding size.
        casing_dim: Casing embedding size; 0 = no casing features.
        char_encoder: ``lstm``, ``cnn`` or ``none``.
        char_dim: Character embedding size.
        char_units: Character BiLSTM units per direction.
        char_filters: Character CNN filters.
        char_kernel_size: Character CNN width.
        lstm_layers: Number of stacked word BiLSTMs.
        lstm_units: Units per direction of each word BiLSTM.
        dropout: Dropout rate on the concatenated embeddings and on each BiLSTM output.
        word_dropout: Probability of replacing a singleton word by UNK during training.
        embeddings_trainable: Whether the word embedding is trained.
        crf_constrain: Forbid the transitions illegal under ``scheme`` (training and decoding).
        crf_boundary: Learn start/end transition scores.
        seed: Seed of the dropout and word-dropout generators.
        skip_padding_words: Encode characters of real words only (see `CharEncoder`); set False
            for XLA.
        lstm_implementation: How the word and character BiLSTMs run: ``fused`` (TF's fused
            ``BlockLSTMV2`` CPU kernel), ``keras`` (Keras ``LSTM``: cuDNN on GPU; needed under
            XLA) or ``auto`` (``keras`` when TensorFlow sees a GPU, else ``fused``). Only the
            computation differs, never the weights.
        embedding_matrix: Optional float [num_words, word_dim] initial word embeddings.
        pretrained_matrix: Optional float [num_pretrained_words, word_dim] frozen vectors
            (zeros when omitted: a loaded ``.keras`` file assigns them).
        singleton_ids: Optional word ids that ``word_dropout`` may replace.
        **kwargs: Passed to ``keras.Model`` (``name``, ``dtype``, ...).
    """

    def __init__(
        self,
        *,
        num_words: int,
        num_chars: int,
        num_tags: int,
        tag_names: Sequence[str],
        scheme: str = "IOBES",
        num_casing: int = 1,
        word_dim: int = 100,
        casing_dim: int = 0,
        char_encoder: str = "lstm",
        char_dim: int = 25,
        char_units: int = 25,
        char_filters: int = 30,
        char_kernel_size: int = 3,
        lstm_layers: int = 1,
        lstm_units: int = 100,
        dropout: float = 0.5,
        word_dropout: float = 0.0,
        embeddings_trainable: bool = True,
        crf_constrain: bool = True,
        crf_boundary: bool = True,
        seed: int | None = None,
        skip_padding_words: bool = True,
        lstm_implementation: str = "auto",
        embedding_matrix=None,
        singleton_ids=None,
        num_pretrained_words: int = 0,
        pretrained_matrix=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        tag_names = [str(t) for t in tag_names]
        if len(tag_names) != int(num_tags):
            raise ModelError(f"num_tags is {num_tags} but {len(tag_names)} tag names were given")
        if char_encoder not in CHAR_ENCODERS:
            raise ConfigError(
                f"unknown char encoder {char_encoder!r}; "
                f"expected one of {', '.join(CHAR_ENCODERS)}",
                key="model.char.encoder",
            )
        if lstm_implementation not in IMPLEMENTATIONS:
            raise ConfigError(
                f"unknown LSTM implementation {lstm_implementation!r}; "
                f"expected one of {', '.join(IMPLEMENTATIONS)}",
                key="model.lstm.implementation",
            )
        if int(num_words) < 2 or int(num_chars) < 2:
            raise ModelError(
                f"vocabularies need at least PAD and UNK, got {num_words} words, {num_chars} chars"
            )
        self.num_words = int(num_words)
        self.num_pretrained_words = int(num_pretrained_words)
        self.num_chars = int(num_chars)
        self.num_tags = int(num_tags)
        self.tag_names = tag_names
        self.scheme = str(scheme)
        self.num_casing = int(num_casing)
        self.word_dim = int(word_dim)
        self.casing_dim = int(casing_dim)
        self.char_encoder_type = char_encoder
        self.char_dim = int(char_dim)
        self.char_units = int(char_units)
        self.char_filters = int(char_filters)
        self.char_kernel_size = int(char_kernel_size)
        self.lstm_layers = int(lstm_layers)
        self.lstm_units = int(lstm_units)
        self.dropout_rate = float(dropout)
        self.word_dropout_rate = float(word_dropout)
        self.embeddings_trainable = bool(embeddings_trainable)
        self.crf_constrain = bool(crf_constrain)
        self.crf_boundary = bool(crf_boundary)
        self.seed = seed
        self.skip_padding_words = bool(skip_padding_words)
        self.lstm_implementation = lstm_implementation

        # === Layers ===
        policy = self.dtype_policy
        self.word_dropout = None
        if self.word_dropout_rate > 0.0:
            self.word_dropout = WordDropout(
                self.num_words,
                rate=self.word_dropout_rate,
                unk_id=UNK_ID,
                seed=seed,
                singleton_ids=singleton_ids,
                dtype=policy,
                name="word_dropout",
            )
        if embedding_matrix is not None:
            matrix = np.asarray(embedding_matrix, dtype="float32")
            if matrix.shape != (self.num_words, self.word_dim):
                raise ConfigError(
                    f"the embedding matrix has shape {matrix.shape}, expected "
                    f"({self.num_words}, {self.word_dim}) (vocabulary size, model.word_dim)",
                    key="model.word_dim",
                )
            word_init = keras.initializers.Constant(matrix)
        else:
            word_init = keras.initializers.RandomUniform(-0.1, 0.1, seed=seed)
        self.word_embedding = keras.layers.Embedding(
            self.num_words,
            self.word_dim,
            embeddings_initializer=word_init,
            mask_zero=True,
            trainable=self.embeddings_trainable,
            dtype=policy,
            name="word_embedding",
        )
        self.pretrained_words = None
        if self.num_pretrained_words > 0:
            from ner_crf.model.pretrained import FrozenEmbedding

            try:
                self.pretrained_words = FrozenEmbedding(
                    self.num_pretrained_words,
                    self.word_dim,
                    initial=pretrained_matrix,
                    dtype=policy,
                    name="pretrained_words",
                )
            except ValueError as error:
                raise ConfigError(str(error), key="model.word_dim") from None
        self.casing_embedding = None
        if self.casing_dim > 0:
            self.casing_embedding = keras.layers.Embedding(
                self.num_casing, self.casing_dim, dtype=policy, name="casing_embedding"
            )
        self.char_encoder = None
        if self.char_encoder_type != "none":
            self.char_encoder = CharEncoder(
                self.num_chars,
                encoder=self.char_encoder_type,
                dim=self.char_dim,
                units=self.char_units,
                filters=self.char_filters,
                kernel_size=self.char_kernel_size,
                skip_padding=self.skip_padding_words,
                implementation=self.lstm_implementation,
                dtype=policy,
                name="char_encoder",
            )
        self.input_dropout = keras.layers.Dropout(
            self.dropout_rate, seed=seed, dtype=policy, name="input_dropout"
        )
        self.bilstms = []
        self.bilstm_dropouts = []
        for i in range(self.lstm_layers):
            # Same weights as Bidirectional(LSTM(units, return_sequences=True)); the keras
            # implementation is cuDNN-eligible on GPU.
            self.bilstms.append(
                Bidirectional(
                    self.lstm_units,
                    return_sequences=True,
                    implementation=self.lstm_implementation,
                    dtype=policy,
                    name=f"bilstm_{i}",
                )
            )
            # tf.train.Checkpoint does not follow Keras' list attributes (without this the
            # trainer's checkpoints had no word BiLSTM weights); the `.keras` writer visits
            # private attributes last and keeps the weights under ``bilstms/``.
            setattr(self, f"_checkpointed_bilstm_{i}", self.bilstms[-1])
            self.bilstm_dropouts.append(
                keras.layers.Dropout(
                    self.dropout_rate,
                    seed=None if seed is None else seed + 1 + i,
                    dtype=policy,
                    name=f"bilstm_dropout_{i}",
                )
            )
        self.emission_dense = keras.layers.Dense(self.num_tags, dtype=policy, name="emissions")
        crf_kwargs = _crf_constraints(self.scheme, tag_names) if self.crf_constrain else {}
        # The CRF always computes in float32 (mixed precision: emissions are cast up).
        self.crf = _ModelCRF(
            self.num_tags,
            use_boundary=self.crf_boundary,
            constrain_training=self.crf_constrain,
            dtype="float32",
            name="crf",
            **crf_kwargs,
        )

    def set_lstm_implementation(self, implementation: str) -> None:
        """Switches every BiLSTM of the model to ``implementation`` (weights are unchanged).

        Use it for example to run a model saved with ``fused`` under XLA (``keras``). Functions
        traced before the switch keep the old implementation: trace them again.

        Args:
            implementation: ``auto``, ``fused`` or ``keras``.

        Raises:
            ConfigError: ``implementation`` is not one of those.
        """
        if implementation not in IMPLEMENTATIONS:
            raise ConfigError(
                f"unknown LSTM implementation {implementation!r}; "
                f"expected one of {', '.join(IMPLEMENTATIONS)}",
                key="model.lstm.implementation",
            )
        self.lstm_implementation = implementation
        layers = list(self.bilstms)
        if self.char_encoder is not None and self.char_encoder.encoder == "lstm":
            self.char_encoder.implementation = implementation
            layers.append(self.char_encoder.char_rnn)
        for layer in layers:
            layer.implementation = implementation

    # === Forward ===

    def build(self, input_shape=None):
        """Creates every weight by running the model once on a one-word dummy sentence."""
        if self.built:
            return
        with tf.init_scope():  # eager even if the first call happens while tracing
            features = {
                "words": tf.fill([1, 1], tf.constant(UNK_ID, "int32")),
                "chars": tf.fill([1, 1, 1], tf.constant(UNK_ID, "int32")),
                "casing": tf.zeros([1, 1], "int32"),
            }
            emissions = self._forward(features, training=False)  # [1, 1, num_tags]
            if not self.crf.built:
                self.crf.build(emissions.shape)
        self.built = True

    def _forward(self, features, training=False):
        words = tf.cast(features["words"], "int32")  # [batch, time]
        mask = words != PAD_ID  # [batch, time]
        if self.word_dropout is not None:
            words = self.word_dropout(words, training=training)  # [batch, time]
        parts = [self._word_vectors(words)]  # [batch, time, word_dim]
        if self.casing_embedding is not None:
            casing = tf.cast(features["casing"], "int32")  # [batch, time]
            parts.append(self.casing_embedding(casing))  # [batch, time, casing_dim]
        if self.char_encoder is not None:
            parts.append(self.char_encoder(features["chars"], mask))  # [batch, time, char_out]
        hidden = parts[0] if len(parts) == 1 else tf.concat(parts, axis=-1)  # [batch, time, D]
        hidden = self.input_dropout(hidden, training=training)
        for bilstm, dropout in zip(self.bilstms, self.bilstm_dropouts, strict=True):
            hidden = bilstm(hidden, mask=mask, training=training)  # [batch, time, 2 * units]
            hidden = dropout(hidden, training=training)
        emissions = self.emission_dense(hidden)  # [batch, time, num_tags]
        return tf.cast(emissions, "float32")  # the CRF runs in float32

    def _word_vectors(self, words):
        """Rows of int32 [batch, time] word ids: trainable below ``num_words``, frozen above."""
        if self.pretrained_words is None:
            return self.word_embedding(words)  # [batch, time, word_dim]
        trained = words < self.num_words  # [batch, time]
        # PAD (0) stands in for the other table's ids: no gradient reaches a real word's row.
        own = self.word_embedding(tf.where(trained, words, PAD_ID))  # [batch, time, word_dim]
        frozen = self.pretrained_words(tf.maximum(words - self.num_words, 0))  # same shape
        return tf.where(trained[..., None], own, frozen)  # [batch, time, word_dim]

    def call(self, features, training=False):
        return self._forward(features, training=training)

    @staticmethod
    def feature_mask(features) -> tf.Tensor:
        """Returns the bool [batch, time] mask of real words (``words != 0``)."""
        return tf.not_equal(tf.cast(features["words"], "int32"), PAD_ID)

    # === Training ===

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """CRF negative log-likelihood scaled by ``crf.layer.nll_loss``, plus ``self.losses``.

        ``nll_loss`` is the one loss-scaling rule (also ``CRFLoss`` and the trainer's step): the
        sum of the sentences' NLLs (times ``sample_weight`` [batch]) over the global batch size,
        so that summing the replicas' gradients gives the gradient of the global-batch mean.
        """
        if y is None:
            raise ValueError("NerModel.compute_loss needs the gold tags `y`")
        if y_pred is None:
            y_pred = self(x, training=training)
        mask = self.feature_mask(x)  # [batch, time]
        nll = -self.crf.log_likelihood(y_pred, tf.cast(y, "int32"), mask=mask)  # [batch]
        if sample_weight is not None:
            nll = nll * tf.cast(tf.reshape(sample_weight, [-1]), nll.dtype)  # [batch]
        loss = nll_loss(nll)  # []
        if self.losses:
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            extra = tf.add_n([tf.cast(tf.reduce_sum(x), loss.dtype) for x in self.losses])
            loss = loss + extra / float(replicas)
        return loss

    def predict_step(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        tags, scores = self.decode(x)
        return {"tags": tags, "scores": scores}

    # === Inference (graph-safe) ===

    def log_likelihood(self, features, tags) -> tf.Tensor:
        """Returns the float32 [batch] log-likelihood of ``tags`` int [batch, time]."""
        emissions = self(features, training=False)  # [batch, time, num_tags]
        mask = self.feature_mask(features)
        return self.crf.log_likelihood(emissions, tf.cast(tags, "int32"), mask=mask)

    def decode(self, features) -> tuple[tf.Tensor, tf.Tensor]:
        """Viterbi decoding: returns (int32 [batch, time] tags, float32 [batch] path scores)."""
        emissions = self(features, training=False)  # [batch, time, num_tags]
        return self.crf.decode(emissions, mask=self.feature_mask(features))

    def marginals(self, features) -> tf.Tensor:
        """Returns the float32 [batch, time, num_tags] tag marginals."""
        emissions = self(features, training=False)  # [batch, time, num_tags]
        return self.crf.marginals(emissions, mask=self.feature_mask(features))

    def decode_nbest(self, features, k: int):
        """Returns the ``k`` best paths, as the CRF layer's ``decode_nbest`` does."""
        emissions = self(features, training=False)  # [batch, time, num_tags]
        return self.crf.decode_nbest(emissions, k, mask=self.feature_mask(features))

    # === Config ===

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "num_words": self.num_words,
            "num_pretrained_words": self.num_pretrained_words,
            "num_chars": self.num_chars,
            "num_tags": self.num_tags,
            "tag_names": list(self.tag_names),
            "scheme": self.scheme,
            "num_casing": self.num_casing,
            "word_dim": self.word_dim,
            "casing_dim": self.casing_dim,
            "char_encoder": self.char_encoder_type,
            "char_dim": self.char_dim,
            "char_units": self.char_units,
            "char_filters": self.char_filters,
            "char_kernel_size": self.char_kernel_size,
            "lstm_layers": self.lstm_layers,
            "lstm_units": self.lstm_units,
            "dropout": self.dropout_rate,
            "word_dropout": self.word_dropout_rate,
            "embeddings_trainable": self.embeddings_trainable,
            "crf_constrain": self.crf_constrain,
            "crf_boundary": self.crf_boundary,
            "seed": self.seed,
            "skip_padding_words": self.skip_padding_words,
            "lstm_implementation": self.lstm_implementation,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        model = cls(**config)
        model.build()
        return model


def build_model(
    cfg,
    *,
    num_words: int,
    num_chars: int,
    num_tags: int,
    tag_names: Sequence[str],
    embedding_matrix=None,
    singleton_ids=None,
    pretrained_matrix=None,
) -> NerModel:
    """Builds the tagger described by ``cfg`` (an ``ExperimentConfig``), with all weights created.

    Call it inside ``strategy.scope()`` when distributing, and after setting the global dtype
    policy for mixed precision.

    Args:
        cfg: The experiment config (``cfg.model``, ``cfg.crf``, ``cfg.data.scheme``,
            ``cfg.embeddings.trainable``, ``cfg.training.seed`` / ``jit_compile`` are read).
            ``model.lstm.implementation: auto`` becomes ``keras`` under ``jit_compile`` (the
            fused kernel has no XLA implementation).
        num_words: Number of training words (trainable rows; specials included).
        num_chars: Character vocabulary size.
        num_tags: Number of tags.
        tag_names: Tag strings, index = tag id, in ``cfg.data.scheme``.
        embedding_matrix: Optional float [num_words, word_dim] pretrained word vectors.
        singleton_ids: Word ids seen once in training (for ``model.word_dropout``).
        pretrained_matrix: Optional float [M, word_dim] frozen vectors of the M words that only
            the vectors file has (word ids ``num_words .. num_words + M - 1``).

    Returns:
        The built `NerModel` (not compiled).

    Raises:
        ConfigError: The embedding matrix does not match ``model.word_dim``, a value is invalid,
            or ``model.lstm.implementation`` is ``fused`` with ``training.jit_compile``.
        ModelError: ``tag_names`` does not have ``num_tags`` entries.
    """
    from ner_crf.data.pipeline import NUM_CASING

    model_cfg = cfg.model
    training_cfg = getattr(cfg, "training", None)
    jit_compile = bool(getattr(training_cfg, "jit_compile", False))
    implementation = getattr(model_cfg.lstm, "implementation", "auto")
    if jit_compile:
        if implementation == "fused":
            raise ConfigError(
                "model.lstm.implementation fused has no XLA kernel: use auto or keras with "
                "training.jit_compile",
                key="model.lstm.implementation",
            )
        implementation = "keras"
    model = NerModel(
        num_words=num_words,
        num_chars=num_chars,
        num_tags=num_tags,
        tag_names=list(tag_names),
        scheme=cfg.data.scheme,
        num_casing=NUM_CASING,
        word_dim=model_cfg.word_dim,
        casing_dim=model_cfg.casing_dim,
        char_encoder=model_cfg.char.encoder,
        char_dim=model_cfg.char.dim,
        char_units=model_cfg.char.units,
        char_filters=model_cfg.char.filters,
        char_kernel_size=model_cfg.char.kernel_size,
        lstm_layers=model_cfg.lstm.layers,
        lstm_units=model_cfg.lstm.units,
        dropout=model_cfg.dropout,
        word_dropout=model_cfg.word_dropout,
        embeddings_trainable=cfg.embeddings.trainable,
        crf_constrain=cfg.crf.constrain,
        crf_boundary=cfg.crf.boundary,
        seed=getattr(training_cfg, "seed", None),
        skip_padding_words=not jit_compile,
        lstm_implementation=implementation,
        embedding_matrix=embedding_matrix,
        singleton_ids=singleton_ids,
        num_pretrained_words=0 if pretrained_matrix is None else len(pretrained_matrix),
        pretrained_matrix=pretrained_matrix,
        name="ner_model",
    )
    model.build()
    logger.info(
        "built %s: %d parameters (%d trainable, %d frozen pretrained word vectors), char encoder "
        "%s, %d x BiLSTM(%d) (%s), %d tags",
        model.name,
        model.count_params(),
        sum(int(np.prod(w.shape)) for w in model.trainable_weights),
        model.num_pretrained_words,
        model.char_encoder_type,
        model.lstm_layers,
        model.lstm_units,
        model.bilstms[0].resolved_implementation() if model.bilstms else "-",
        model.num_tags,
    )
    return model
