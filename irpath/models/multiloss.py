"""Multi-loss joint classification + segmentation network (BenTaieb et al. 2016).

Three pieces, each a functional ``keras.Model``:

- :func:`build_classifier`: convolutions and 2x2 max-poolings (named
  ``pool1`` .. ``poolK``), a 1x1 convolution to class activations z_c, global
  average pooling and a softmax: Q(x) (N, n_classes). Fully convolutional, so
  any H, W works.
- :func:`build_segmenter`: the image, optionally the prior f and the class
  scores (broadcast to constant planes) -> P (N, H, W, 2) = (gland, background)
  softmax, through convolution/pooling and transposed-convolution upsampling.
- :func:`build_joint_model`: the training model for mode "class", "seg" or
  "joint" (Table 1). Inputs ``{"image": raw RGB in [0, 255], "label": one-hot}``
  (``label`` only where the prior needs the true class); outputs a dict among
  ``scores`` (N, n_classes), ``segmentation`` (N, H, W, 2 or 3) and ``prior``
  (N, H, W, 1). In "joint" mode ``segmentation`` carries the prior as its third
  channel so the prior-weighted loss (eq. 4) can read it.

:func:`inference_model` turns a trained joint model into the raw-image ->
maps model that is exported; its channel order is :func:`inference_channels`.
"""

from __future__ import annotations

import keras
from keras import layers

from irpath.layers.class_planes import ClassPlanes, StopGradient  # noqa: F401  (re-exported)
from irpath.layers.padding import CropToMatch, PadToMultiple
from irpath.layers.saliency_prior import SaliencyPrior
from irpath.layers.precision import output_dtype

MODES = ("class", "seg", "joint")
CLASSIFIER_NAME = "classifier"
SEGMENTER_NAME = "segmenter"
PRIOR_NAME = "saliency_prior"
PRIOR_ENTRIES = ("concat", "zero_branch")


def _preprocess(name: str = "rgb_scale"):
    """Raw RGB in [0, 255] -> [-1, 1]; the only normalisation, inside the model."""
    return layers.Rescaling(1.0 / 127.5, offset=-1.0, name=name)


def _convs(x, filters: int, n: int, name: str, first: int = 1):
    """``n`` 3x3 ReLU convolutions named ``{name}_conv{first}``, ``{name}_conv{first + 1}``, ..."""
    for i in range(first, first + n):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu",
                          kernel_initializer="he_normal", name=f"{name}_conv{i}")(x)
    return x


def build_classifier(*, in_channels: int = 3, n_classes: int = 2, filters: int = 16,
                     depth: int = 3, convs_per_level: int = 2, name: str = CLASSIFIER_NAME):
    """Classification component: (N, H, W, in_channels) normalised image -> Q(x) (N, n_classes).

    Level i (1..depth) has ``convs_per_level`` 3x3 ReLU convolutions with
    ``filters * 2**(i-1)`` filters and a 2x2 max-pooling named ``pool{i}``; then a
    1x1 convolution gives per-location class activations, global average
    pooling gives z_c and a softmax (layer ``scores``) gives Q (eq. 2). No batch
    normalisation: samples stay independent, so the per-image derivative of
    Σ_n Q_n is each image's own derivative. H and W should be divisible by
    2**depth (the joint model pads).
    """
    inputs = keras.Input((None, None, in_channels), name="image")
    x = inputs
    for level in range(1, depth + 1):
        x = _convs(x, filters * 2 ** (level - 1), convs_per_level, f"c{level}")
        x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
    x = layers.Conv2D(filters * 2 ** depth, 3, padding="same", activation="relu",
                      kernel_initializer="he_normal", name="top_conv")(x)
    x = layers.Conv2D(n_classes, 1, name="class_maps")(x)
    # float32 from the average on under a mixed policy (Keras' mixed-precision rule).
    x = layers.GlobalAveragePooling2D(name="z_c", dtype=output_dtype())(x)
    scores = layers.Softmax(name="scores", dtype=output_dtype())(x)
    return keras.Model(inputs, scores, name=name)


def build_segmenter(*, in_channels: int = 3, n_classes: int = 2, with_prior: bool = True,
                    with_scores: bool = True, filters: int = 16, depth: int = 3,
                    skips: bool = True, prior_entry: str = "concat", name: str = SEGMENTER_NAME):
    """Segmentation component -> P (N, H, W, 2), channel 0 gland, channel 1 background.

    Inputs (a list, in this order, those enabled): ``image`` (N, H, W,
    in_channels) normalised, ``prior`` (N, H, W, 1), ``scores`` (N, n_classes).
    The scores are broadcast to constant planes. ``prior_entry`` says how they
    join the image: "concat" stacks them with it before the first convolution;
    "zero_branch" gives them their own 3x3 convolution (no bias, initialised to
    zero) whose output is added to the image's first convolution before its
    ReLU, so at initialisation the segmenter computes exactly what the seg-only
    segmenter drawn from the same seed computes, and the prior and scores enter
    as training finds them useful.
    An encoder of 3x3 convolutions and max-poolings mirrors the classifier; a
    decoder of stride-2 transposed convolutions ("deconvolution", Sec. 2)
    brings it back to H, W; with ``skips`` the encoder maps of each level are
    concatenated in (U-Net style), which the paper does not specify. H and W
    must be divisible by 2**depth.
    """
    image = keras.Input((None, None, in_channels), name="image")
    inputs, parts = [image], [image]
    if with_prior:
        prior = keras.Input((None, None, 1), name="prior")
        inputs.append(prior)
        parts.append(prior)
    if with_scores:
        scores = keras.Input((n_classes,), name="scores")
        inputs.append(scores)
        parts.append(ClassPlanes(name="score_planes")([scores, image]))
    if prior_entry not in PRIOR_ENTRIES:
        raise ValueError(f"prior_entry must be one of {PRIOR_ENTRIES}, got {prior_entry!r}")
    done = 0  # convolutions of level 1 already applied
    if prior_entry == "zero_branch" and len(parts) > 1:
        x = layers.Conv2D(filters, 3, padding="same", kernel_initializer="he_normal",
                          name="e1_conv1")(image)
        extra = layers.Concatenate(name="stack")(parts[1:]) if len(parts) > 2 else parts[1]
        extra = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_initializer="zeros",
                              name="e1_prior_conv")(extra)
        x = layers.ReLU(name="e1_relu1")(layers.Add(name="e1_add")([x, extra]))
        done = 1
    else:
        x = layers.Concatenate(name="stack")(parts) if len(parts) > 1 else image
    levels = []
    for level in range(1, depth + 1):
        skip = done if level == 1 else 0
        x = _convs(x, filters * 2 ** (level - 1), 2 - skip, f"e{level}", first=1 + skip)
        levels.append(x)
        x = layers.MaxPooling2D(2, name=f"down{level}")(x)
    x = _convs(x, filters * 2 ** depth, 1, "bottom")
    for level in reversed(range(1, depth + 1)):
        x = layers.Conv2DTranspose(filters * 2 ** (level - 1), 2, strides=2, activation="relu",
                                   kernel_initializer="he_normal", name=f"deconv{level}")(x)
        if skips:
            x = layers.Concatenate(name=f"skip{level}")([levels[level - 1], x])
        x = _convs(x, filters * 2 ** (level - 1), 1, f"d{level}")
    p = layers.Conv2D(2, 1, activation="softmax", dtype=output_dtype(), name="p")(x)
    return keras.Model(inputs if len(inputs) > 1 else image, p, name=name)


def _depth(model: keras.Model | None) -> int:
    if model is None:
        return 0
    pools = [lyr for lyr in model.layers if isinstance(lyr, layers.MaxPooling2D)]
    return len(pools)


def build_joint_model(classifier: keras.Model | None, segmenter: keras.Model | None, *,
                      mode: str = "joint", class_source: str = "auto", reduce: str = "max_abs",
                      score: str = "probability", in_channels: int = 3, n_classes: int = 2,
                      score_gradient: bool = True, name: str | None = None):
    """The training model for one mode of Table 1.

    Args:
        classifier: from :func:`build_classifier` (modes "class", "joint"). Pass
            the same object to the "class" and then the "joint" model to
            pre-train it (phase 1) and then train jointly (phase 2).
        segmenter: from :func:`build_segmenter`; ``with_prior`` and
            ``with_scores`` for "joint", neither for "seg"; None for "class".
        mode: "class" (classifier only), "seg" (segmenter only, no prior) or "joint".
        class_source: class whose score the prior differentiates, see
            :class:`SaliencyPrior` ("auto": true class in ``fit``, predicted otherwise).
        reduce: channel reduction of the prior ("max_abs": Simonyan et al.).
        score: "probability" (Q, eq. 3) or "logit" (pre-softmax), see :class:`SaliencyPrior`.
        score_gradient: "joint" only. True (end to end, Sec. 2): L_s reaches the
            classifier through the class scores fed to the segmenter. False: those
            scores pass through :class:`StopGradient`, so the classifier learns from
            L_c alone and the segmenter from L_s alone. The prior never carries a
            gradient (:class:`SaliencyPrior`).

    Returns:
        ``keras.Model`` with inputs ``{"image": (N, H, W, C) raw [0, 255]}`` plus
        ``"label": (N, n_classes)`` when a prior uses it, and outputs
        "class": ``{"scores", "prior"}``; "seg": ``{"segmentation"}`` (N, H, W, 2);
        "joint": ``{"scores", "segmentation", "prior"}`` with ``segmentation``
        (N, H, W, 3) = (P_g, P_b, f). Any H, W works (padded inside). Outputs are float32 under a mixed
        policy too; the convolutions compute in the policy's dtype.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode in ("class", "joint") and classifier is None:
        raise ValueError(f"mode {mode!r} needs a classifier")
    if mode in ("seg", "joint") and segmenter is None:
        raise ValueError(f"mode {mode!r} needs a segmenter")
    image = keras.Input((None, None, in_channels), name="image")
    inputs = {"image": image}
    multiple = 2 ** max(_depth(classifier if mode != "seg" else None),
                        _depth(segmenter if mode != "class" else None))
    x = _preprocess()(image)
    x = PadToMultiple(multiple, name="pad")(x)
    outputs = {}
    if mode in ("class", "joint"):
        prior_layer = SaliencyPrior(classifier, class_source=class_source, reduce=reduce,
                                    score=score, return_scores=True, name=PRIOR_NAME,
                                    dtype=output_dtype())
        if prior_layer.uses_label:
            inputs["label"] = keras.Input((n_classes,), name="label")
            prior, scores = prior_layer([x, inputs["label"]])
        else:
            prior, scores = prior_layer(x)
        outputs["scores"] = layers.Identity(name="scores", dtype=output_dtype())(scores)
        outputs["prior"] = CropToMatch(name="prior", dtype=output_dtype())([prior, image])
    if mode == "seg":
        p = segmenter(x)
        outputs["segmentation"] = CropToMatch(name="segmentation",
                                              dtype=output_dtype())([p, image])
    elif mode == "joint":
        seg_scores = scores if score_gradient else StopGradient(name="stop_scores")(scores)
        p = segmenter([x, prior, seg_scores])
        both = layers.Concatenate(name="p_and_prior", dtype=output_dtype())([p, prior])
        outputs["segmentation"] = CropToMatch(name="segmentation",
                                              dtype=output_dtype())([both, image])
    return keras.Model(inputs, outputs, name=name or f"multiloss_{mode}")


def joint_mode(joint: keras.Model) -> str:
    """The mode ("class", "seg" or "joint") a model from :func:`build_joint_model` was built for."""
    names = {lyr.name for lyr in joint.layers}
    if PRIOR_NAME in names:
        return "joint" if SEGMENTER_NAME in names else "class"
    return "seg"


def inference_channels(mode: str) -> list[str]:
    """Names of the channels of :func:`inference_model`'s output, in order."""
    return {"class": ["prior", "score_benign", "score_malignant"],
            "seg": ["p_gland", "p_background"],
            "joint": ["p_gland", "p_background", "prior", "score_benign", "score_malignant"]}[mode]


def inference_model(joint: keras.Model) -> keras.Model:
    """Raw RGB (N, H, W, 3) in [0, 255], any H, W -> (N, H, W, K) float32 maps.

    Channels (see :func:`inference_channels`): "joint": P_g, P_b, f, Q_benign,
    Q_malignant (the scores broadcast to constant planes); "seg": P_g, P_b;
    "class": f, Q_benign, Q_malignant. The prior uses the predicted class.
    The segmentation Ŝ (eq. 6) is ``argmax`` over the first two channels
    (0 = gland). Shares weights with ``joint``.
    """
    mode = joint_mode(joint)
    image_in = joint.inputs[0] if not isinstance(joint.input, dict) else joint.input["image"]
    in_channels = image_in.shape[-1]
    pad = joint.get_layer("pad")
    image = keras.Input((None, None, in_channels), name="image")
    x = _preprocess()(image)
    x = PadToMultiple(pad.multiple, name="pad")(x)
    maps = []
    if mode == "seg":
        maps.append(joint.get_layer(SEGMENTER_NAME)(x))
    else:
        trained = joint.get_layer(PRIOR_NAME)
        prior, scores = SaliencyPrior(trained.classifier, pool_layers=trained.pool_layers,
                                      class_source="predicted", reduce=trained.reduce,
                                      score=trained.score, return_scores=True, name=PRIOR_NAME,
                                      dtype=output_dtype())(x)
        if mode == "joint":
            maps.append(joint.get_layer(SEGMENTER_NAME)([x, prior, scores]))
        maps += [prior, ClassPlanes(name="score_planes", dtype=output_dtype())([scores, prior])]
    out = layers.Concatenate(name="maps", dtype=output_dtype())(maps) if len(maps) > 1 else maps[0]
    out = CropToMatch(name="crop", dtype=output_dtype())([out, image])
    return keras.Model(image, out, name=f"multiloss_{mode}_inference")
