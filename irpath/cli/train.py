"""``irpath train METHOD``: train a model from manifests into a run directory."""

from __future__ import annotations

import argparse

from irpath.cli.main import start_tensorflow
from irpath.config import CompSegNetConfig, TrainConfig

METHODS = ("compsegnet",)

HELP = """\
Train CompSegNet from spot-level labels only (1 = cancer, 0 = cancer-free).
Every mini-batch holds cancer and cancer-free spots; the U-Net's sigmoid map is
pooled over tissue pixels by the neuron σ_{α,β,γ} and trained with
Σ|o(I) − α·ℓ|. The model with the lowest validation loss is kept and its U-Net
saved as RUN_DIR/segmenter.keras.

Re-running with the same --out resumes from the last finished epoch (raise
--epochs to train longer). With more than one GPU visible, training runs under
tf.distribute.MirroredStrategy and the global batch is --batch-size x GPUs.
Defaults are the paper's: 64 filters, depth 4, RMSprop lr 1e-3, k = 7, 400 epochs;
irpath adds batch normalisation and starts the map at α/β so training does not
collapse (models/compsegnet/README.md). On a 2-core CPU the full-size U-Net takes
~20 s per epoch for 60 spots of 64 x 64.
"""


def add_parser(sub):
    p = sub.add_parser("train", help="train a model (CompSegNet) from spot labels",
                       description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("method", choices=METHODS, help="the method to train")
    p.add_argument("--train-manifest", required=True, metavar="CSV", help="training spots (image,label[,mask][,tissue])")
    p.add_argument("--val-manifest", required=True, metavar="CSV", help="validation spots (model selection)")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory (created; resumed if present)")
    d, t = CompSegNetConfig(), TrainConfig()
    p.add_argument("--epochs", type=int, default=t.epochs, help=f"epochs (default {t.epochs})")
    p.add_argument("--batch-size", type=int, default=t.batch_size, help=f"spots per batch and replica, k (default {t.batch_size})")
    p.add_argument("--filters", type=int, default=d.filters, help=f"U-Net filters at the first level (default {d.filters})")
    p.add_argument("--depth", type=int, default=d.depth, help=f"U-Net poolings (default {d.depth})")
    p.add_argument("--lr", type=float, default=t.lr, help=f"RMSprop learning rate (default {t.lr:g})")
    p.add_argument("--seed", type=int, default=t.seed, help="random seed (default 0)")
    p.add_argument("--alpha", type=float, default=d.alpha, help=f"σ upper bound α = minimum tumour fraction (default {d.alpha})")
    p.add_argument("--beta", type=float, default=d.beta, help=f"σ slope β (default {d.beta})")
    p.add_argument("--gamma", type=float, default=d.gamma, help=f"σ linear gain γ (default {d.gamma})")
    p.add_argument("--norm", choices=("none", "batch", "group"), default=d.norm,
                   help=f"normalisation after each convolution (default {d.norm}; 'none' is the original "
                        "U-Net, which tends to collapse, see models/compsegnet/README.md)")
    p.add_argument("--no-augment", action="store_true", help="no random flips / 90° rotations")
    p.set_defaults(func=run)


def configs_from_args(args) -> tuple[CompSegNetConfig, TrainConfig]:
    model = CompSegNetConfig(filters=args.filters, depth=args.depth, alpha=args.alpha,
                             beta=args.beta, gamma=args.gamma, norm=args.norm)
    train = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                        seed=args.seed, augment=not args.no_augment)
    return model, train


def run(args) -> int:
    start_tensorflow()
    model_cfg, train_cfg = configs_from_args(args)
    from irpath.train.compsegnet import train

    train(args.train_manifest, args.val_manifest, args.out, model_cfg, train_cfg)
    return 0
