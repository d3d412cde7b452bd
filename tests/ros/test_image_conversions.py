"""numpy <-> sensor_msgs/Image: every supported encoding, padding, endianness, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import Image

from grounded_ros.image_conversions import (
    ENCODINGS,
    ImageConversionError,
    image_to_numpy,
    numpy_to_image,
)

RNG = np.random.default_rng(0)

SAMPLES = {
    "rgb8": RNG.integers(0, 256, (4, 5, 3), dtype=np.uint8),
    "bgr8": RNG.integers(0, 256, (4, 5, 3), dtype=np.uint8),
    "mono8": RNG.integers(0, 256, (4, 5), dtype=np.uint8),
    "16UC1": RNG.integers(0, 65535, (4, 5), dtype=np.uint16),
    "32FC1": RNG.random((4, 5), dtype=np.float32),
}


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_round_trip(encoding):
    array = SAMPLES[encoding]
    msg = numpy_to_image(array, encoding, frame_id="cam")
    assert (msg.height, msg.width, msg.encoding, msg.header.frame_id) == (4, 5, encoding, "cam")
    assert msg.step == 5 * array.itemsize * (3 if array.ndim == 3 else 1)
    back = image_to_numpy(msg)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_row_padding_is_skipped():
    array = SAMPLES["rgb8"]
    msg = Image(height=4, width=5, encoding="rgb8", step=16)  # 15 bytes of pixels + 1 pad
    padded = np.zeros((4, 16), dtype=np.uint8)
    padded[:, :15] = array.reshape(4, 15)
    msg.data = padded.tobytes()
    np.testing.assert_array_equal(image_to_numpy(msg), array)


def test_big_endian_depth_is_swapped():
    array = SAMPLES["16UC1"]
    msg = Image(height=4, width=5, encoding="16UC1", step=10, is_bigendian=1)
    msg.data = array.astype(">u2").tobytes()
    np.testing.assert_array_equal(image_to_numpy(msg), array)


def test_known_pixel_layout():
    # rgb8 (H, W, C) with channel order preserved.
    array = np.zeros((2, 3, 3), dtype=np.uint8)
    array[1, 2] = (10, 20, 30)
    msg = numpy_to_image(array, "rgb8")
    assert bytes(msg.data[(1 * 3 + 2) * 3 : (1 * 3 + 2) * 3 + 3]) == bytes([10, 20, 30])


@pytest.mark.parametrize(
    ("msg", "needle"),
    [
        (Image(height=4, width=5, encoding="rgb8", step=15, data=bytes(59)), "data length 59"),
        (Image(height=4, width=5, encoding="rgb8", step=10, data=bytes(40)), "step 10"),
        (Image(height=4, width=5, encoding="yuv422", step=10, data=bytes(40)), "unsupported"),
        (Image(height=0, width=5, encoding="mono8", step=5), "no pixels"),
    ],
)
def test_malformed_messages_raise_clear_errors(msg, needle):
    with pytest.raises(ImageConversionError, match=needle):
        image_to_numpy(msg)


def test_wrong_dtype_or_shape_is_refused():
    with pytest.raises(ImageConversionError, match="needs dtype uint16"):
        numpy_to_image(np.zeros((2, 2), dtype=np.float32), "16UC1")
    with pytest.raises(ImageConversionError, match="needs shape"):
        numpy_to_image(np.zeros((2, 2), dtype=np.uint8), "rgb8")
    # a trailing singleton channel is accepted for one-channel encodings
    assert numpy_to_image(np.zeros((2, 2, 1), dtype=np.uint8), "mono8").step == 2
