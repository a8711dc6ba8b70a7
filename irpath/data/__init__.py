"""Training data: a raw-file cache of a manifest, augmentation, and the tf.data pipeline."""

from irpath.data.augment import dihedral, inverse_dihedral, random_dihedral, tf_dihedral
from irpath.data.cache import CacheEntry, CacheIndex, build_cache
from irpath.data.pipeline import make_dataset, padded_size

__all__ = ["build_cache", "CacheEntry", "CacheIndex", "make_dataset", "padded_size", "dihedral",
           "inverse_dihedral", "random_dihedral", "tf_dihedral"]
