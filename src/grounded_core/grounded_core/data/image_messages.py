"""sensor_msgs/Image and CompressedImage as rosbags objects <-> numpy arrays, no ROS.

The bag tools build and read camera messages without rclpy or cv_bridge
(PLATFORM: cv_bridge is unavailable and breaks with NumPy 2). Colour images
are handled as RGB arrays (H, W, 3) uint8, the order the stack's nodes use;
``bgr8``/``rgba8``/``bgra8``/``mono8`` messages are converted on reading.
Compressed images are JPEG or PNG encoded with OpenCV.
"""

from __future__ import annotations

import cv2
import numpy as np
from rosbags.typesys.store import Typestore

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
#: Encodings that decode to an RGB frame, with their channel count.
COLOUR_ENCODINGS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}
COMPRESSED_FORMATS = ("jpeg", "png")


class ImageMessageError(ValueError):
    """An image message that cannot be converted, with the reason."""


def split_ns(stamp_ns: int) -> tuple[int, int]:
    return int(stamp_ns) // 1_000_000_000, int(stamp_ns) % 1_000_000_000


def header(store: Typestore, stamp_ns: int, frame_id: str):
    sec, nanosec = split_ns(stamp_ns)
    types = store.types
    return types["std_msgs/msg/Header"](
        stamp=types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec), frame_id=frame_id
    )


def stamp_ns(message) -> int:
    """The header stamp of a message, in ns."""
    return int(message.header.stamp.sec) * 1_000_000_000 + int(message.header.stamp.nanosec)


def rgb_to_image(store: Typestore, rgb: np.ndarray, stamp: int, frame_id: str = "camera"):
    """An rgb8 sensor_msgs/Image from an (H, W, 3) uint8 array."""
    rgb = np.ascontiguousarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageMessageError(f"expected an (H, W, 3) uint8 array, got {rgb.dtype} {rgb.shape}")
    height, width = rgb.shape[:2]
    return store.types[IMAGE_TYPE](
        header=header(store, stamp, frame_id),
        height=height,
        width=width,
        encoding="rgb8",
        is_bigendian=0,
        step=width * 3,
        data=rgb.reshape(-1),
    )


def rgb_to_compressed(
    store: Typestore,
    rgb: np.ndarray,
    stamp: int,
    frame_id: str = "camera",
    fmt: str = "jpeg",
    quality: int = 90,
):
    """A sensor_msgs/CompressedImage (JPEG or PNG) from an (H, W, 3) uint8 RGB array."""
    if fmt not in COMPRESSED_FORMATS:
        raise ImageMessageError(f"compressed format must be one of {COMPRESSED_FORMATS}")
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if fmt == "jpeg" else []
    ok, encoded = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", rgb[:, :, ::-1], params)
    if not ok:
        raise ImageMessageError(f"OpenCV could not encode a {rgb.shape} frame as {fmt}")
    return store.types[COMPRESSED_TYPE](
        header=header(store, stamp, frame_id),
        format=f"rgb8; {fmt} compressed bgr8",
        data=np.asarray(encoded, dtype=np.uint8).reshape(-1),
    )


def message_to_rgb(message, msgtype: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB from an Image (colour encodings) or a CompressedImage."""
    if msgtype == COMPRESSED_TYPE:
        data = np.asarray(message.data, dtype=np.uint8)
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if bgr is None:
            raise ImageMessageError(f"compressed image ({message.format!r}) does not decode")
        return np.ascontiguousarray(bgr[:, :, ::-1])
    if msgtype != IMAGE_TYPE:
        raise ImageMessageError(f"{msgtype} is not an image message type")
    encoding = message.encoding
    if encoding not in COLOUR_ENCODINGS:
        raise ImageMessageError(
            f"image encoding {encoding!r} is not a colour image; "
            f"supported: {sorted(COLOUR_ENCODINGS)}"
        )
    channels = COLOUR_ENCODINGS[encoding]
    height, width, step = int(message.height), int(message.width), int(message.step)
    data = np.asarray(message.data, dtype=np.uint8)
    if height <= 0 or width <= 0 or step < width * channels or data.size < step * height:
        raise ImageMessageError(
            f"inconsistent image: {width}x{height} {encoding}, step {step}, {data.size} bytes"
        )
    rows = data[: step * height].reshape(height, step)[:, : width * channels]
    pixels = rows.reshape(height, width, channels)
    if encoding == "mono8":
        return np.repeat(pixels, 3, axis=2)
    if encoding in ("bgr8", "bgra8"):
        pixels = pixels[:, :, 2::-1]
    return np.ascontiguousarray(pixels[:, :, :3])
