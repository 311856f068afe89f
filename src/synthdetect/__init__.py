"""synthdetect: tell AI-generated music from human music by classifying spectrogram images."""

__version__ = "0.1.0"
