"""Scoring what the models learned: metrics, calibration, histogram analysis, robustness
and the report's tables."""
