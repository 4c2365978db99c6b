"""raysweep example plugin: importing this package registers three entries.

- model `tv_resnet18`: torchvision's ResNet-18, its stem adapted to 28x28 inputs;
- data set `imagefolder`: images in torchvision's ImageFolder layout (root/train/<class>/*.png,
  root/test/<class>/*.png), resized and held as uint8 tensors like every raysweep data set;
- attack `fgsm`: the fast gradient sign method (Goodfellow et al. 2015), one L-inf step.

raysweep imports it through the `raysweep.plugins` entry point in this package's pyproject.toml;
a spec needs no `plugins:` line for it.
"""
from raysweep_example_plugin import attack, data, model  # noqa: F401  (registers the entries)
