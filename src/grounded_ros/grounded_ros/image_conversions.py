"""numpy <-> sensor_msgs/Image without cv_bridge.

cv_bridge is not installable from PyPI and breaks with NumPy 2 on Jazzy, so
the stack converts images itself. Supported encodings are the ones the stack
uses: rgb8, bgr8, mono8 (uint8 camera frames), 16UC1 (depth in millimetres,
as RealSense-style drivers publish it) and 32FC1 (depth in metres, as the
simulator publishes it).

Every malformed message raises ``ImageConversionError`` with a message that
says what is wrong, so a node can log it and keep running.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
from sensor_msgs.msg import Image


class ImageConversionError(ValueError):
    """An Image message (or array) that cannot be converted; the message says why."""


@dataclass(frozen=True)
class EncodingSpec:
    """How one ROS image encoding maps onto a numpy array."""

    dtype: np.dtype
    channels: int


ENCODINGS: dict[str, EncodingSpec] = {
    "rgb8": EncodingSpec(np.dtype(np.uint8), 3),
    "bgr8": EncodingSpec(np.dtype(np.uint8), 3),
    "mono8": EncodingSpec(np.dtype(np.uint8), 1),
    "16UC1": EncodingSpec(np.dtype(np.uint16), 1),
    "32FC1": EncodingSpec(np.dtype(np.float32), 1),
}

_HOST_BIG_ENDIAN = sys.byteorder == "big"


def _spec(encoding: str) -> EncodingSpec:
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise ImageConversionError(
            f"unsupported image encoding {encoding!r}; supported: {', '.join(ENCODINGS)}"
        ) from None


def image_to_numpy(msg: Image) -> np.ndarray:
    """Return the image as an array of shape (H, W, C) for colour, (H, W) for one channel.

    The array is a copy, safe to keep after the message is gone. Raises
    ImageConversionError when the encoding is unsupported or the data length
    does not match height * step.
    """
    spec = _spec(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageConversionError(f"image has no pixels: {width}x{height}")
    row_bytes = width * spec.channels * spec.dtype.itemsize
    if step < row_bytes:
        raise ImageConversionError(
            f"step {step} is smaller than width*channels*bytes = {row_bytes} "
            f"for a {width}x{height} {msg.encoding} image"
        )
    data = msg.data
    if len(data) != height * step:
        raise ImageConversionError(
            f"data length {len(data)} does not match height*step = {height}*{step} = "
            f"{height * step} for a {width}x{height} {msg.encoding} image"
        )
    dtype = spec.dtype
    if dtype.itemsize > 1 and bool(msg.is_bigendian) != _HOST_BIG_ENDIAN:
        dtype = dtype.newbyteorder()
    # rclpy gives array('B') or bytes; frombuffer avoids a Python-level copy.
    raw = np.frombuffer(memoryview(data), dtype=np.uint8).reshape(height, step)
    pixels = raw[:, :row_bytes].copy().view(dtype)
    shape = (height, width, spec.channels) if spec.channels > 1 else (height, width)
    return pixels.reshape(shape).astype(spec.dtype, copy=False)


def numpy_to_image(array: np.ndarray, encoding: str, frame_id: str = "", stamp=None) -> Image:
    """Build an Image message from an array of shape (H, W, C) or (H, W).

    The array's dtype must match the encoding (uint8 for rgb8/bgr8/mono8,
    uint16 for 16UC1, float32 for 32FC1); no silent casts, because a float
    depth image sent as 16UC1 would be wrong by a factor of 1000.
    """
    spec = _spec(encoding)
    array = np.asarray(array)
    if array.dtype != spec.dtype:
        raise ImageConversionError(f"{encoding} needs dtype {spec.dtype}, got {array.dtype}")
    if spec.channels == 1 and array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    expected_ndim = 3 if spec.channels > 1 else 2
    if array.ndim != expected_ndim or (spec.channels > 1 and array.shape[2] != spec.channels):
        shape = f"(H, W, {spec.channels})" if spec.channels > 1 else "(H, W)"
        raise ImageConversionError(f"{encoding} needs shape {shape}, got {array.shape}")
    height, width = array.shape[:2]
    msg = Image()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height = int(height)
    msg.width = int(width)
    msg.encoding = encoding
    msg.is_bigendian = int(_HOST_BIG_ENDIAN)
    msg.step = int(width * spec.channels * spec.dtype.itemsize)
    # Assigning bytes is the fast path for uint8[] fields in rclpy.
    msg.data = np.ascontiguousarray(array).tobytes()
    return msg
