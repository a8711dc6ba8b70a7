"""Training data: the IR raw-file cache and its reader, the RGB pipeline, and the shared
joint augmentation (CompSegNet's spot pipeline is :mod:`irpath.methods.compsegnet.data`)."""

from irpath.data.augment import dihedral, inverse_dihedral, random_dihedral, tf_dihedral
from irpath.data.cache import CacheEntry, CacheIndex, build_cache
from irpath.data.joint_augment import AugmentConfig, augment, random_crop
from irpath.data.rgb_pipeline import make_rgb_dataset

__all__ = ["build_cache", "CacheEntry", "CacheIndex", "dihedral",
           "inverse_dihedral", "random_dihedral", "tf_dihedral", "AugmentConfig", "augment", "random_crop",
           "make_rgb_dataset"]
