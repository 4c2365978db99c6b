"""torchvision's ResNet-18 for 28x28 images: the ImageNet stem (7x7 stride-2 conv and a max
pool, a 4x reduction meant for 224x224) becomes a 3x3 stride-1 conv without pooling, so the
four stages see 28, 14, 7 and 4 pixels. Any channel count; logits out, as raysweep requires."""
from __future__ import annotations

from torch import nn

from raysweep.models import MODELS


@MODELS.register("tv_resnet18", "torchvision ResNet-18 with a 3x3 stride-1 stem for 28x28 inputs (example plugin)")
def tv_resnet18(in_shape: tuple[int, int, int], n_classes: int, width: int = 64) -> nn.Module:
    # imported here, not at the top: torchvision pulls in torch._dynamo and triton, about 160 MB
    # resident in every process that loads the plugins (every trial), whether it builds this model or not
    from torchvision.models import resnet18

    model = resnet18(num_classes=n_classes)  # random weights: nothing is downloaded
    if width != 64:  # torchvision fixes the stage widths; only the default is offered
        raise ValueError(f"tv_resnet18 has torchvision's fixed width 64, got {width}")
    model.conv1 = nn.Conv2d(in_shape[0], 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model
