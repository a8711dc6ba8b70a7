"""Tiny synthetic spots and manifests for the data tests."""

import numpy as np
import pytest

#: A short axis keeps the tests fast; it still covers the amide I band.
AXIS = np.linspace(1800.0, 948.0, 20)


def write_spots(folder, shapes, labels, *, rng, with_masks=True, tissue_files=False):
    """Write .npy spots + masks + manifest.csv; return (manifest path, list of dicts of arrays).

    Each spot is positive noise on tissue, 0 on a one-pixel background border.
    Its ground-truth mask is ``cube[..., 0] > 0.8`` on cancer spots (label 1).
    """
    folder.mkdir(parents=True, exist_ok=True)
    lines, arrays = ["image,label,mask,tissue"], []
    for i, ((h, w), label) in enumerate(zip(shapes, labels)):
        cube = np.zeros((h, w, AXIS.size), np.float32)
        tissue = np.zeros((h, w), bool)
        tissue[1:-1, 1:-1] = True
        cube[tissue] = rng.uniform(0.5, 1.0, size=(tissue.sum(), AXIS.size))
        mask = (cube[..., 0] > 0.8) if (label == 1 and with_masks) else None
        np.save(folder / f"spot_{i:03d}.npy", cube)
        mask_name = tissue_name = ""
        if mask is not None:
            mask_name = f"spot_{i:03d}_mask.npy"
            np.save(folder / mask_name, mask.astype(np.uint8))
        if tissue_files:
            tissue_name = f"spot_{i:03d}_tissue.npy"
            np.save(folder / tissue_name, tissue)
        lines.append(f"spot_{i:03d}.npy,{label},{mask_name},{tissue_name}")
        arrays.append({"cube": cube, "tissue": tissue, "mask": mask, "label": label})
    path = folder / "manifest.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, arrays


@pytest.fixture
def spots(tmp_path, rng):
    """Six spots of mixed sizes, labels 1,0,1,0,1,1, with a built cache."""
    from irpath.data import build_cache
    from irpath.io import read_manifest

    shapes = [(8, 8), (12, 10), (9, 13), (8, 8), (10, 10), (11, 7)]
    labels = [1, 0, 1, 0, 1, 1]
    path, arrays = write_spots(tmp_path / "src", shapes, labels, rng=rng)
    index = build_cache(read_manifest(path), tmp_path / "cache", target_axis=AXIS,
                        progress=False)
    return index, arrays
