"""Pick the torch device: CUDA when torch sees one, else CPU (Ray's fake GPU ids do not count)."""
import torch


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
