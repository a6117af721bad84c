import io

import imagehash
import numpy as np
from PIL import ImageOps

from curator.features.hashes import hamming, hash_file, hash_to_int, perceptual_hashes, to_bytes
from tests.conftest import smooth_image


def test_int_form_matches_imagehash_hex():
    img = smooth_image(0, 64).convert("L")
    h = imagehash.phash(img)
    assert f"{hash_to_int(h):016x}" == str(h)


def test_hamming_and_bytes_layout():
    a = np.array([0b1011, 2**64 - 1], dtype=np.uint64)
    b = np.array([0b0001, 0], dtype=np.uint64)
    assert hamming(a, b).tolist() == [2, 64]
    assert to_bytes(np.array([1], dtype=np.uint64)).tolist() == [[0, 0, 0, 0, 0, 0, 0, 1]]


def test_draft_decode_keeps_hashes_close(tmp_path):
    img = smooth_image(1, 512)
    path = tmp_path / "big.jpg"
    img.save(path, quality=90)
    full = np.array(hash_file(path, 10**9, decode_size=0), dtype=np.uint64)
    draft = np.array(hash_file(path, 10**9, decode_size=64), dtype=np.uint64)
    assert hamming(full, draft).max() <= 6
    other = np.array(perceptual_hashes(smooth_image(2, 512)), dtype=np.uint64)
    assert hamming(full, other).min() > 12  # a different picture is far away


def test_draft_really_decodes_smaller(tmp_path):
    from curator.io.images import open_rgb

    buf = io.BytesIO()
    smooth_image(3, 512).save(buf, format="JPEG")
    small, _, _ = open_rgb(buf.getvalue(), 10**9, draft_size=64)
    assert small.size == (64, 64)
    assert open_rgb(buf.getvalue(), 10**9)[0].size == (512, 512)


def test_the_mirrored_dhash_is_the_dhash_of_the_mirrored_image():
    img = smooth_image(5, 64)
    codes = perceptual_hashes(img)
    flipped = perceptual_hashes(ImageOps.mirror(img))
    assert codes[3] == flipped[1] and flipped[3] == codes[1]
    assert codes[3] != codes[1]  # an asymmetric picture: its mirror hashes differently
