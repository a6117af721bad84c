import io

import numpy as np
from PIL import Image

from curator.io.images import decode_bytes, open_rgb

BIG = 10**8


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_exif_orientation_is_applied():
    # Stored 40x20, red left half / blue right half, EXIF orientation 6 (rotate 90 CW to view).
    arr = np.zeros((20, 40, 3), dtype=np.uint8)
    arr[:, :20] = (255, 0, 0)
    arr[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(Image.fromarray(arr), "JPEG", quality=95, exif=exif.tobytes())
    rgb, fmt, _ = open_rgb(data, BIG)
    assert fmt == "JPEG"
    assert rgb.size == (20, 40)
    top, bottom = np.asarray(rgb)[5, 10], np.asarray(rgb)[35, 10]
    assert top[0] > 200 and top[2] < 60  # red moved to the top
    assert bottom[2] > 200 and bottom[0] < 60
    facts = decode_bytes(data, BIG)
    assert (facts.width, facts.height) == (20, 40)


def test_sixteen_bit_keeps_dynamic_range():
    ramp = np.linspace(0, 65535, 64 * 8, dtype=np.uint16).reshape(8, 64)
    data = encode(Image.fromarray(ramp), "PNG")
    rgb, _, mode = open_rgb(data, BIG)
    assert mode.startswith("I")
    grey = np.asarray(rgb)[:, :, 0]
    assert grey.min() == 0 and grey.max() == 255
    assert np.all(np.diff(grey[0].astype(int)) >= 0)  # ordering survives, nothing clipped


def test_palette_with_transparency_is_composited_on_white():
    img = Image.new("P", (8, 8), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.info["transparency"] = 0
    img.putpixel((0, 0), 1)
    rgb, _, mode = open_rgb(encode(img, "PNG", transparency=0), BIG)
    assert mode == "P"
    assert rgb.getpixel((5, 5)) == (255, 255, 255)
    assert rgb.getpixel((0, 0)) == (255, 0, 0)


def test_rgba_and_cmyk_become_rgb():
    rgba = Image.new("RGBA", (4, 4), (0, 128, 0, 255))
    assert open_rgb(encode(rgba, "PNG"), BIG)[0].getpixel((1, 1)) == (0, 128, 0)
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # red in CMYK
    rgb, _, mode = open_rgb(encode(cmyk, "JPEG", quality=95), BIG)
    assert mode == "CMYK" and rgb.mode == "RGB"
    r, g, b = rgb.getpixel((8, 8))
    assert r > 200 and g < 60 and b < 60


def test_bad_bytes_give_reasons_not_exceptions():
    good = encode(Image.new("RGB", (64, 64), (10, 20, 30)), "JPEG")
    assert decode_bytes(b"", BIG).error == "empty file (0 bytes)"
    assert "not an image" in decode_bytes(b"hello, world\n", BIG).error
    truncated = decode_bytes(good[: len(good) // 2], BIG)
    assert truncated.error.startswith("truncated or corrupt image data")
    assert truncated.width is None and len(truncated.sample_id) == 64


def test_decompression_bomb_is_refused():
    data = encode(Image.new("L", (64, 64)), "PNG")
    assert decode_bytes(data, max_image_pixels=64 * 64).error is None
    for limit in (3000, 1000):  # warning range and error range of Pillow's guard
        assert "decompression bomb refused" in decode_bytes(data, max_image_pixels=limit).error


def test_pixel_digest_same_picture_different_bytes():
    img = Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16))
    a = decode_bytes(encode(img, "PNG"), BIG)
    b = decode_bytes(encode(img, "PNG", compress_level=0), BIG)
    assert a.sample_id != b.sample_id
    assert a.pixel_sha256 == b.pixel_sha256
