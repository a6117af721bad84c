"""Perceptual hashes (pHash, dHash, wHash, and dHash of the mirrored image; 64 bits each,
computed with imagehash).

Each hash is stored as an unsigned 64-bit integer whose bits are the hash's bits in row-major
order, so Hamming distance is the popcount of the XOR and the 8 big-endian bytes feed FAISS
binary indexes directly.
"""

from __future__ import annotations

from pathlib import Path

import imagehash
import numpy as np
from PIL import Image, ImageOps

from curator.io.images import open_rgb
from curator.io.uris import read_uri

HASH_KINDS = ("phash", "dhash", "whash")
# dHash of the image mirrored left to right: searched against the others' dHash, it proposes
# mirrored copies (a flip is the commonest augmentation, and 3% of CIFAR-10's own twins)
MIRROR_KIND = "dhash_mirror"
STORED_KINDS = (*HASH_KINDS, MIRROR_KIND)
# wHash's wavelet input size; fixed so the hash does not depend on how large the decode was.
WHASH_IMAGE_SCALE = 64


def hash_to_int(h: imagehash.ImageHash) -> int:
    return int.from_bytes(np.packbits(h.hash.flatten()).tobytes(), "big")


def perceptual_hashes(img: Image.Image) -> tuple[int, int, int, int]:
    """(pHash, dHash, wHash, dHash of the mirrored image) of an image, each as a 64-bit
    unsigned int (STORED_KINDS)."""
    grey = img.convert("L")
    return (
        hash_to_int(imagehash.phash(grey)),
        hash_to_int(imagehash.dhash(grey)),
        hash_to_int(imagehash.whash(grey, image_scale=WHASH_IMAGE_SCALE)),
        hash_to_int(imagehash.dhash(ImageOps.mirror(grey))),
    )


def hash_bytes(data: bytes, max_image_pixels: int, decode_size: int) -> tuple[int, ...]:
    """Hash one encoded image; JPEGs decode at reduced scale when ``decode_size`` > 0."""
    img, _, _ = open_rgb(data, max_image_pixels, draft_size=decode_size)
    return perceptual_hashes(img)


def hash_file(path: Path, max_image_pixels: int, decode_size: int) -> tuple[int, ...]:
    return hash_bytes(read_uri(str(path)), max_image_pixels, decode_size)


def to_bytes(codes: np.ndarray) -> np.ndarray:
    """uint64 codes -> (n, 8) uint8 rows, big-endian (the layout FAISS binary indexes take)."""
    return np.ascontiguousarray(codes.astype(">u8")).view(np.uint8).reshape(-1, 8)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise Hamming distance between two arrays of uint64 codes."""
    x = np.bitwise_xor(a.astype(np.uint64), b.astype(np.uint64))
    return np.unpackbits(x.astype(">u8").view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
