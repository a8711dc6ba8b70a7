"""Synthetic data for the demo and the tests.

:mod:`irpath.demo.synthetic` builds IR tissue-microarray spots (``make_spot``),
whole train/val/test data sets on disk (``make_tma``) and the repo's two-spot
sample (``write_sample``). Nothing is imported here, so
``python -m irpath.demo.synthetic`` runs cleanly.
"""
