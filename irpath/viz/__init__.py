"""Figures written to PNG files (matplotlib Agg canvases; no pyplot, no global state)."""

from irpath.viz.plots import (amide_image, plot_history, plot_overlay, plot_roc,
                              save_map_png)

__all__ = ["amide_image", "plot_history", "plot_overlay", "plot_roc", "save_map_png"]
