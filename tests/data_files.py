"""Tiny data-set files in each format's real on-disk layout (EMNIST/Fashion-MNIST IDX, CelebA's
JPEGs and list files), shared by the data, bad-input and shipped-spec tests."""
import gzip
import struct

import numpy as np
from PIL import Image

from raysweep.data import real

CELEBA_ATTRS = ("5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose "
                "Black_Hair Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee "
                "Gray_Hair Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard "
                "Oval_Face Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair "
                "Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young").split()


def write_idx_gz(path, array: np.ndarray, gz=True):
    """The IDX format of (E)MNIST: magic (0, 0, type 0x08 = ubyte, ndim), big-endian dims, data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def upright_digits(n, seed):
    """Images with a bar in the top rows (so a transpose is visible) and labels 0..9."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 50, (n, 28, 28), dtype=np.uint8)
    x[:, :3, :] = 255
    return x, np.arange(n) % 10


def make_mnist_like(root, ds: real.MnistLike, sizes=(30, 10), gz=True):
    out = {}
    for (img, lab), n, split in zip([ds.files[:2], ds.files[2:]], sizes, ("train", "test")):
        x, y = upright_digits(n, seed=n)
        stored = x.transpose(0, 2, 1) if ds.transposed else x  # EMNIST's files hold transposed images
        write_idx_gz(root / ds.folder / "raw" / img, stored, gz)
        write_idx_gz(root / ds.folder / "raw" / lab, y, gz)
        out[split] = (x, y)
    return out


def make_celeba(root, partitions=(0, 0, 0, 1, 2, 2), male=(1, -1, 1, -1, -1, 1)):
    """img_align_celeba/*.jpg (178x218, top half red, bottom half blue) and the five list files."""
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    names = [f"{i + 1:06d}.jpg" for i in range(len(partitions))]
    for name in names:
        img = np.zeros((218, 178, 3), dtype=np.uint8)
        img[:109, :, 0] = 255
        img[109:, :, 2] = 255
        Image.fromarray(img).save(folder / "img_align_celeba" / name, quality=95)
    n = len(names)
    attr_rows = []
    for name, m in zip(names, male):
        values = [-1] * 40
        values[CELEBA_ATTRS.index("Male")] = m
        attr_rows.append(name + " " + " ".join(f"{v:>2}" for v in values))
    files = {
        "list_attr_celeba.txt": [str(n), " ".join(CELEBA_ATTRS) + " ", *attr_rows],
        "identity_CelebA.txt": [f"{name} {i + 100}" for i, name in enumerate(names)],
        "list_bbox_celeba.txt": [str(n), "image_id x_1 y_1 width height", *[f"{nm}    95  71 226 313" for nm in names]],
        "list_landmarks_align_celeba.txt": [
            str(n), "lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x rightmouth_y",
            *[f"{nm} 69  109  106  113   77  142   73  152  108  154" for nm in names]],
        "list_eval_partition.txt": [f"{nm} {p}" for nm, p in zip(names, partitions)],
    }
    for fname, lines in files.items():
        (folder / fname).write_text("\r\n".join(lines) + "\r\n")
    return names
