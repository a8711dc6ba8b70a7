"""Figures of classified nuclei: instances coloured by class over the image (Fig. 2 colours)."""

from __future__ import annotations

import numpy as np

from irpath.methods.nuclei.labels import CLASSES

#: Tumour red, lymphocyte green, stroma blue, as in the paper's Fig. 2.
CLASS_COLOURS = np.array([[1.0, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.3, 1.0]])


def colour_instances(display, inst, classes: dict, alpha: float = 0.45) -> np.ndarray:
    """(H, W, 3) image with each instance tinted by its class and outlined in its colour.

    Args:
        display: (H, W, 3) or (H, W) image in [0, 1].
        inst: (H, W) instance ids (0 background).
        classes: ``{id: class index}``.
    """
    from scipy import ndimage

    img = np.asarray(display, np.float64)
    img = np.repeat(img[..., None], 3, axis=-1) if img.ndim == 2 else img[..., :3].copy()
    inst = np.asarray(inst)
    lut = np.full(int(inst.max(initial=0)) + 1, -1, np.int64)
    for i, c in classes.items():
        lut[int(i)] = int(c)
    cls = lut[inst]
    inside = cls >= 0
    colour = CLASS_COLOURS[np.clip(cls, 0, 2)]
    img[inside] = (1 - alpha) * img[inside] + alpha * colour[inside]
    edge = inside & (ndimage.grey_erosion(inst, size=3) != ndimage.grey_dilation(inst, size=3))
    img[edge] = colour[edge]
    return np.clip(img, 0.0, 1.0)


def plot_nuclei(display, inst, classes: dict, path, *, gt=None, title: str = "") -> None:
    """A PNG: the image, the prediction coloured by class, and the ground truth when given.

    Args:
        display: (H, W, 3) image in [0, 1].
        inst, classes: predicted instances and ``{id: class}``.
        path: PNG file.
        gt: optional (H, W) id-mod-3 label image.
        title: figure title.
    """
    from matplotlib.patches import Patch

    from irpath.viz.plots import new_figure, save_figure

    panels = [("image", np.asarray(display)), ("prediction", colour_instances(display, inst, classes))]
    if gt is not None:
        from irpath.methods.nuclei.labels import decode_label

        gt_inst, gt_classes = decode_label(gt)
        panels.append(("ground truth", colour_instances(display, gt_inst, gt_classes)))
    fig = new_figure(4.2 * len(panels), 4.6)
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (name, img) in zip(axes, panels):
        ax.imshow(img, cmap="gray" if np.ndim(img) == 2 else None, interpolation="nearest")
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[-1].legend(handles=[Patch(color=CLASS_COLOURS[c], label=n) for c, n in enumerate(CLASSES)],
                    loc="lower right", fontsize="small")
    if title:
        fig.suptitle(title)
    save_figure(fig, path)
