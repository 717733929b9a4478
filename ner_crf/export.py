"""``ner-crf export``: a self-contained TensorFlow SavedModel for TF Serving.

The SavedModel takes token strings and returns tag strings; everything in between runs in the
graph, so loading it needs TensorFlow only (no ``ner_crf`` import, no Python preprocessing):

* word normalisation as in training (``vocab.lowercase``: ``tf.strings.lower`` on UTF-8;
  ``vocab.normalize_digits``: every Unicode decimal digit ``\\p{Nd}`` -> ``0``);
* word ids from a ``tf.lookup.StaticHashTable`` over the run's word vocabulary (unknown -> UNK),
  including the words that only the pretrained vectors file has (``embeddings.extend_vocab``;
  their frozen vectors are a variable of the SavedModel);
* character ids (``tf.strings.unicode_split``, another ``StaticHashTable``, the first
  ``vocab.max_word_length`` characters of each token);
* casing feature ids (Unicode-category regexes, only when the model uses casing features);
* the BiLSTM and the constrained Viterbi decoding of the CRF.

Serving signature ``serving_default`` (also callable as ``loaded.serve``)::

    inputs:
      tokens   tf.string [batch, time]  tokens, right-padded with "" (any value past `lengths`)
      lengths  tf.int32  [batch]        number of real tokens of each row (0 allowed)
    outputs:
      tags     tf.string [batch, time]  predicted tags (model's scheme), "" at padding
      tag_ids  tf.int32  [batch, time]  tag ids (index into tags.txt), 0 at padding
      scores   tf.float32 [batch]       Viterbi path scores

Example (a fresh Python process)::

    import tensorflow as tf
    serve = tf.saved_model.load("exported").signatures["serving_default"]
    out = serve(tokens=tf.constant([["John", "lives", "in", "Paris"], ["Hi", "", "", ""]]),
                lengths=tf.constant([4, 1]))
    out["tags"]  # [[b"S-PER", b"O", b"O", b"S-LOC"], [b"O", b"", b"", b""]]

Known differences from ``ner-crf predict``: lowercasing uses TensorFlow's Unicode case mapping
and casing features use Unicode general categories, which can differ from Python's ``str``
methods on rare characters; tokenisation of raw text is not part of the graph (send tokens).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ner_crf.errors import ModelError, NerCrfError, require_new_output

logger = logging.getLogger(__name__)

__all__ = ["casing_ids", "export_saved_model"]

SIGNATURE = "serving_default"


def casing_ids(tokens: Any) -> Any:
    """In-graph version of :func:`ner_crf.data.pipeline.casing_id` for a string tensor.

    Args:
        tokens: tf.string tensor of any shape.

    Returns:
        int32 tensor of the same shape with casing feature ids (1 .. 7).
    """
    import tensorflow as tf

    from ner_crf.data import pipeline as p

    def match(pattern: str) -> Any:
        return tf.strings.regex_full_match(tokens, pattern)

    has_digit = match(r"(?s).*\p{Nd}.*")
    numeric = match(r"[\p{Nd}.,\-/:]+")
    no_letter = match(r"(?s)[^\p{L}]*")
    no_upper = match(r"(?s)[^\p{Lu}]*")
    no_lower = match(r"(?s)[^\p{Ll}]*")
    two_upper = match(r"(?s).*\p{Lu}.*\p{Lu}.*")
    title = match(r"(?s)[^\p{L}]*\p{Lu}[^\p{Lu}]*")

    def const(value: int) -> Any:
        return tf.fill(tf.shape(tokens), tf.constant(value, tf.int32))

    out = const(p.CASING_MIXED)
    out = tf.where(title, const(p.CASING_TITLE), out)
    out = tf.where(no_lower, tf.where(two_upper, const(p.CASING_UPPER), const(p.CASING_TITLE)), out)
    out = tf.where(no_upper, const(p.CASING_LOWER), out)
    out = tf.where(no_letter, const(p.CASING_OTHER), out)
    digit = tf.where(numeric, const(p.CASING_NUMERIC), const(p.CASING_HAS_DIGIT))
    return tf.where(has_digit, digit, out)


def _table(tokens: list[str], first_id: int, default: int) -> Any:
    import tensorflow as tf

    keys = tf.constant(tokens, tf.string)
    values = tf.range(first_id, first_id + len(tokens), dtype=tf.int64)
    return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values), default)


def export_saved_model(run: Any, output: str | Path, *, overwrite: bool = False) -> Path:
    """Writes a SavedModel with the serving signature described in the module docstring.

    The directory is written next to ``output`` under a temporary name and renamed at the end, so
    a failed export leaves nothing behind.

    Args:
        run: A :class:`~ner_crf.model.run_dir.LoadedRun`.
        output: The SavedModel directory to create.
        overwrite: Replace an existing ``output``.

    Returns:
        ``output`` as a `Path`.

    Raises:
        NerCrfError: ``output`` exists (without ``overwrite``) or its parent does not.
        ModelError: The model cannot be traced or saved.
    """
    import keras
    import tensorflow as tf

    from ner_crf.data.vocab import PAD, UNK

    output = require_new_output(output, overwrite=overwrite)

    model = run.model
    cfg = run.config
    lowercase = bool(cfg.vocab.lowercase)
    normalize_digits = bool(cfg.vocab.normalize_digits)
    max_word_length = int(cfg.vocab.max_word_length)
    use_casing = int(getattr(model, "casing_dim", 0)) > 0
    # Ids 0 (PAD) and 1 (UNK) are not looked up: a literal "<pad>" token must map to UNK.
    words = run.vocabs.words.tokens[UNK + 1 :]
    chars = run.vocabs.chars.tokens[UNK + 1 :]
    word_table = _table(words, UNK + 1, UNK)
    char_table = _table(chars, UNK + 1, UNK)
    tag_names = tf.constant(list(run.tag_names), tf.string)

    def serve(tokens: Any, lengths: Any) -> dict[str, Any]:
        time = tf.shape(tokens)[1]
        lengths = tf.clip_by_value(tf.cast(lengths, tf.int32), 0, time)  # [B]
        mask = tf.sequence_mask(lengths, time)  # [B, T]
        tokens = tf.where(mask, tokens, "")  # [B, T]
        normalised = tokens
        if lowercase:
            normalised = tf.strings.lower(normalised, encoding="utf-8")
        if normalize_digits:
            normalised = tf.strings.regex_replace(normalised, r"\p{Nd}", "0")
        word_ids = tf.cast(word_table.lookup(normalised), tf.int32)  # [B, T]
        word_ids = tf.where(mask, word_ids, PAD)  # [B, T]
        char_strings = tf.strings.unicode_split(tokens, "UTF-8", errors="replace")  # [B, T, (C)]
        char_ids = tf.ragged.map_flat_values(char_table.lookup, char_strings)  # [B, T, (C)]
        char_ids = tf.cast(char_ids, tf.int32)
        char_ids = char_ids.to_tensor(default_value=PAD)  # [B, T, C]
        char_ids = char_ids[:, :, :max_word_length]  # [B, T, W]
        width = tf.shape(char_ids)[2]
        char_ids = tf.pad(char_ids, [[0, 0], [0, 0], [0, tf.maximum(1 - width, 0)]])  # W >= 1
        # [B, T]; all zeros when the model has no casing features (it ignores them then)
        casing = tf.where(mask, casing_ids(tokens), 0) if use_casing else tf.zeros_like(word_ids)
        features = {"words": word_ids, "chars": char_ids, "casing": casing}
        tag_ids, scores = model.decode(features)  # [B, T], [B]
        tag_ids = tf.where(mask, tf.cast(tag_ids, tf.int32), 0)  # [B, T]
        tags = tf.where(mask, tf.gather(tag_names, tag_ids), "")  # [B, T]
        return {"tags": tags, "tag_ids": tag_ids, "scores": tf.cast(scores, tf.float32)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    if getattr(model, "pretrained_words", None) is not None:
        # Frozen rows of the words only the vectors file has: not a Keras weight, so tracked
        # explicitly (the word table above maps those words to their ids).
        archive.track(model.pretrained_words.table)
    archive.track(word_table)
    archive.track(char_table)
    archive.add_endpoint(
        name="serve",
        fn=serve,
        input_signature=[
            tf.TensorSpec([None, None], tf.string, name="tokens"),
            tf.TensorSpec([None], tf.int32, name="lengths"),
        ],
    )
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        try:
            archive.write_out(str(staging), verbose=False)
        except NerCrfError:
            raise
        except Exception as error:  # TensorFlow raises many types while tracing and saving
            reason = f"{type(error).__name__}: {error}"
            raise ModelError(f"cannot export {run.path}: {reason}") from error
        if output.exists():
            shutil.rmtree(output)
        staging.rename(output)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    logger.info("exported %s to %s", run.path, output)
    return output
