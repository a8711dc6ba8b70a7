"""Losses; each registered serialisable under package "irpath"."""

from irpath.losses.weak_label import ComparativeLoss, comparative_loss

__all__ = ["ComparativeLoss", "comparative_loss"]
