"""A second, independent test bed: generators written apart from :mod:`irpath.demo.glands`,
:mod:`irpath.demo.nuclei`, :mod:`irpath.demo.synthetic` and :mod:`irpath.demo.textures`.

Other stains and colours, object sizes from 0.25x to 4x the first bed's, foreground from
3 % to 60 %, other textures (fibrous stroma, speckle) and noise (Poisson-like shot noise,
blur, JPEG). Each module draws everything from one seeded ``numpy.random.Generator``.

* :mod:`.glands`: GlaS-layout folders (multiloss);
* :mod:`.nuclei`: fluorescence-like and H&E-like nuclei tiles with id-mod-3 labels (nuclei).

The fcn's second bed is a real image, ``skimage.data.immunohistochemistry()`` (shipped on
disk by scikit-image), labelled by colour in ``benchmarks/fcn_beds.py``.

Nothing is imported here, so ``python -m irpath.demo.bed2.glands OUT`` runs cleanly.
"""
