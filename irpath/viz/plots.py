"""Figures for training runs and evaluations, written straight to PNG files.

Every function builds its own :class:`matplotlib.figure.Figure` on an Agg canvas,
so nothing global (pyplot state, the backend) is touched and they run headless.
Maps are (H, W); cubes are (H, W, C).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

AMIDE_I = 1655.0  # cm^-1
MAP_CMAP = "inferno"
GT_COLOUR, PRED_COLOUR = "lime", "deepskyblue"


def new_figure(width: float, height: float) -> Figure:
    """A ``width`` x ``height`` inch figure on its own Agg canvas (constrained layout)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path, dpi: int = 100, **kwargs) -> Path:
    """Write ``fig`` to ``path`` whole or not at all (a temporary renamed into place)."""
    from irpath.io.paths import atomic_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".").lower() or "png", **kwargs)
    return path


def amide_image(cube, axis=None) -> np.ndarray:
    """A grey-level picture of a spot: the band nearest amide I (1655 cm^-1).

    Args:
        cube: (H, W, C) array (memmaps are read one channel only).
        axis: (C,) wavenumbers in cm^-1; if None, the mean over channels is returned.

    Returns:
        (H, W) float32.
    """
    if axis is None:
        return np.asarray(cube, dtype=np.float32).mean(axis=-1)
    idx = int(np.argmin(np.abs(np.asarray(axis, dtype=np.float64) - AMIDE_I)))
    from irpath.io.cube import row_blocks

    out = np.empty(cube.shape[:2], np.float32)
    for a, b in row_blocks(cube):  # memory maps: the pages of each block are released
        out[a:b] = cube[a:b, :, idx]
    return out


def plot_roc(fpr, tpr, auc: float, path, title: str | None = None, label: str | None = None,
             others: dict | None = None) -> Path:
    """ROC curve with its area in the legend, optionally beside other curves.

    Args:
        fpr, tpr: (K,) rates, e.g. from :func:`irpath.metrics.roc_curve`.
        auc: area under the curve, shown in the legend.
        path: PNG file to write.
        title: axes title.
        label: name of the curve in the legend (``"<label>: AUC = ..."``).
        others: more curves on the same axes, ``{label: (fpr, tpr, auc)}``.
    """
    fig = new_figure(4.5, 4.5)
    ax = fig.add_subplot()
    for name, (f, t, a) in {label: (fpr, tpr, auc), **(others or {})}.items():
        ax.plot(f, t, lw=2, label=f"{name}: AUC = {a:.3f}" if name else f"AUC = {a:.3f}")
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="chance")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate",
           ylabel="true positive rate", title=title or "ROC")
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize="small")
    return save_figure(fig, path)


def _contour(ax, mask, colour, width: float) -> bool:
    """Outline a bool mask; False if there is no edge to draw."""
    mask = np.asarray(mask, dtype=bool)
    if mask.all() or not mask.any():
        return False
    ax.contour(mask.astype(np.float32), levels=[0.5], colors=colour, linewidths=width)
    return True


def plot_overlay(tissue_image, prob_map, threshold: float, gt_mask, path,
                 title: str | None = None) -> Path:
    """Four panels: tissue image, activation map, thresholded map, contours on tissue.

    Args:
        tissue_image: (H, W) grey-level image, e.g. :func:`amide_image`.
        prob_map: (H, W) activations in [0, 1].
        threshold: activation threshold for the binary map.
        gt_mask: (H, W) bool ground-truth tumour mask, or None.
        path: PNG file to write.
        title: figure title.
    """
    tissue_image, prob_map = np.asarray(tissue_image), np.asarray(prob_map)
    active = prob_map >= threshold
    fig = new_figure(13, 3.6)
    axes = fig.subplots(1, 4)
    axes[0].imshow(tissue_image, cmap="gray")
    axes[0].set_title("tissue (amide I)")
    im = axes[1].imshow(prob_map, cmap=MAP_CMAP, vmin=0, vmax=1)
    fig.colorbar(im, ax=axes[1], fraction=0.046, pad=0.04)
    axes[1].set_title("activation map")
    axes[2].imshow(active, cmap="gray", vmin=0, vmax=1)
    axes[2].set_title(f"activation >= {threshold:g}")
    axes[3].imshow(tissue_image, cmap="gray")
    handles = []
    if gt_mask is not None and _contour(axes[3], gt_mask, GT_COLOUR, 2.5):
        handles.append(Line2D([], [], color=GT_COLOUR, label="ground truth"))
    if _contour(axes[3], active, PRED_COLOUR, 1.2):
        handles.append(Line2D([], [], color=PRED_COLOUR, label="thresholded"))
    if handles:
        axes[3].legend(handles=handles, loc="lower right", fontsize="small")
    axes[3].set_title("contours")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_history(history: dict, path) -> Path:
    """Training curves: one panel per metric, train and ``val_`` series together.

    Args:
        history: ``{name: [value per epoch]}``, e.g. ``keras.callbacks.History.history``;
            ``val_<name>`` is drawn in the panel of ``<name>``.
        path: PNG file to write.
    """
    names = [k for k in history if not k.startswith("val_")]
    names += [k[4:] for k in history if k.startswith("val_") and k[4:] not in history]
    names = sorted(names, key=lambda k: (k != "loss", k)) or ["loss"]
    fig = new_figure(4.2 * len(names), 3.4)
    axes = np.atleast_1d(fig.subplots(1, len(names)))
    for ax, name in zip(axes, names):
        for key, label in ((name, "train"), (f"val_{name}", "val")):
            values = history.get(key)
            if values is not None and len(values):
                ax.plot(np.arange(1, len(values) + 1), values, marker="o", ms=2, label=label)
        ax.set(xlabel="epoch", title=name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.lines:
            ax.legend()
    return save_figure(fig, path)


def save_map_png(prob_map, path, *, cmap: str = MAP_CMAP, vmin: float = 0.0,
                 vmax: float = 1.0) -> Path:
    """An activation map as a colour-mapped PNG, one image pixel per map pixel.

    Args:
        prob_map: (H, W) activations; NaN pixels (e.g. background) come out transparent.
        path: PNG file to write.
        cmap, vmin, vmax: colour map and the value range it spans.
    """
    import matplotlib
    from PIL import Image

    values = np.asarray(prob_map, dtype=np.float64)
    scaled = np.clip((values - vmin) / max(vmax - vmin, 1e-12), 0, 1)
    rgba = matplotlib.colormaps[cmap](np.nan_to_num(scaled), bytes=True)
    rgba[..., 3] = np.where(np.isnan(values), 0, 255)
    from irpath.io.paths import atomic_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(rgba).save(tmp, format="PNG")
    return path
