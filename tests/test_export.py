"""The in-graph casing features of the exported SavedModel (no trained model)."""

from __future__ import annotations


def test_in_graph_casing_matches_python():
    import tensorflow as tf

    from ner_crf.data.pipeline import casing_id
    from ner_crf.export import casing_ids

    tokens = "paris Paris EU I iPhone McDonald 1,000.5 1996-08-22 F-16 3rd , -- Łódź ÉCOLE"
    # Not covered: digits outside \p{Nd} such as "²", which str.isdigit accepts (documented).
    tokens = [*tokens.split(), "straße", "日本", "😀", "O'Neill", "٣٤"]
    got = casing_ids(tf.constant(tokens)).numpy().tolist()
    assert got == [casing_id(t) for t in tokens]
