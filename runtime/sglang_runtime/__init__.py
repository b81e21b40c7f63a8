"""Turn environment settings into a validated, version-correct SGLang launch."""

__version__ = "0.1.0"
