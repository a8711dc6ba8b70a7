"""irpath: find disease-associated regions in IR hyperspectral and H&E histopathology images."""

__version__ = "0.1.0"
