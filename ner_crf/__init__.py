"""ner-crf: BiLSTM-CRF named-entity recognition on TensorFlow 2 and Keras 3.

This module stays free of TensorFlow imports so that ``ner-crf --help`` is fast.
"""

__version__ = "0.1.0"
