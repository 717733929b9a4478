"""The PNG encoder behind ``ner-crf info --plot``."""

from __future__ import annotations

import struct
import zlib

import numpy as np


def test_png_encoder_round_trip():
    from ner_crf.info import encode_png

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    data = encode_png(pixels)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks = {}
    position = 8
    while position < len(data):
        (size,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + size]
        (crc,) = struct.unpack(">I", data[position + 8 + size : position + 12 + size])
        assert crc == zlib.crc32(kind + body)
        chunks[kind] = body
        position += 12 + size
    assert set(chunks) == {b"IHDR", b"IDAT", b"IEND"}
    assert struct.unpack(">II", chunks[b"IHDR"][:8]) == (7, 5)
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(5, 1 + 7 * 3)
    assert (raw[:, 0] == 0).all()
    np.testing.assert_array_equal(raw[:, 1:].reshape(5, 7, 3), pixels)


def test_transition_scores_of_a_layer_and_info_of_a_keras_file(tmp_path):
    import keras
    from typer.testing import CliRunner

    from ner_crf.cli import app
    from ner_crf.crf import CRF
    from ner_crf.info import transition_scores

    crf = CRF(3, allowed_start=[0, 1])
    crf.build((None, None, 3))
    crf.transitions.assign(np.arange(9, dtype=np.float32).reshape(3, 3))
    table = transition_scores(crf)
    assert table.tags == ["0", "1", "2"] and table.rows[0] == "<start>"
    np.testing.assert_array_equal(table.values[1:4], np.arange(9).reshape(3, 3))
    assert table.allowed[0].tolist() == [True, True, False]

    words = keras.Input((None,), dtype="int32")
    model = keras.Model(words, crf(keras.layers.Embedding(5, 3, mask_zero=True)(words)))
    path = tmp_path / "tagger.keras"
    model.save(path)
    result = CliRunner().invoke(app, ["info", "--model", str(path)])
    assert result.exit_code == 0, result.output
    assert "transition scores" in result.stdout and "<start>" in result.stdout
