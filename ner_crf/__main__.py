"""Allow ``python -m ner_crf``."""

from ner_crf.cli import app

if __name__ == "__main__":
    app(prog_name="ner-crf")
