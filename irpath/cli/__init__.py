"""Thin command-line shells: parse arguments, build a config, make one call."""
