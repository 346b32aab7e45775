"""gitexport: a canvas ML pipeline turned into a production-ready project in git."""

__version__ = "0.1.0"
