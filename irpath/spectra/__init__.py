"""Pure-numpy operations on (H, W, C) cubes and their (C,) wavenumber axis."""

from irpath.spectra.axis import DEFAULT_AXIS, crop, resample, to_target_axis
from irpath.spectra.mask import check_spectra, tissue_mask
from irpath.spectra.normalise import channel_stats, standardise, vector_normalise

__all__ = ["DEFAULT_AXIS", "crop", "resample", "to_target_axis", "check_spectra", "tissue_mask",
           "channel_stats", "standardise", "vector_normalise"]
