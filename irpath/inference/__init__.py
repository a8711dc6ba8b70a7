"""Prediction, evaluation and export of trained segmenters."""
