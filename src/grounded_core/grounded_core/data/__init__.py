"""Data on disk: atomic training checkpoints, rosbag2 bags and videos (no ROS needed).

- ``checkpoints``: :class:`CheckpointManager` writes one directory per checkpoint
  (files + ``manifest.json``) atomically and keeps a ``LATEST`` pointer, so a learner
  killed at any moment resumes from the last complete checkpoint (MISSION A4).
- ``bags``: rosbag2 bags without ROS (``BagWriter`` atomic, ``Bag`` tolerant of
  damaged files), with ``typestore`` (Jazzy + grounded_interfaces types) and
  ``bag_recovery`` (scanning truncated mcap/sqlite3 storage files).
- ``image_messages``: sensor_msgs Image/CompressedImage <-> numpy RGB.
- ``video``: video files -> image topics of a bag and back (OpenCV).
"""

from .checkpoints import (
    LATEST_FILE,
    MANIFEST_FILE,
    CheckpointError,
    CheckpointManager,
    file_digest,
    read_manifest,
    software_versions,
    verify_checkpoint,
)

# The bag and video tools pull in rosbags and OpenCV; checkpoint users should not
# pay for that at import, so their names load on first use.
_LAZY = {
    **dict.fromkeys(
        (
            "DEFAULT_STORAGE",
            "STORAGES",
            "Bag",
            "BagError",
            "BagInfo",
            "BagMessage",
            "BagWriter",
            "TopicInfo",
            "make_qos",
            "read_info",
        ),
        "bags",
    ),
    "default_typestore": "typestore",
    **dict.fromkeys(
        ("VideoError", "export_frames", "import_video", "read_video", "write_video"), "video"
    ),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_STORAGE",
    "LATEST_FILE",
    "MANIFEST_FILE",
    "STORAGES",
    "Bag",
    "BagError",
    "BagInfo",
    "BagMessage",
    "BagWriter",
    "CheckpointError",
    "CheckpointManager",
    "TopicInfo",
    "VideoError",
    "default_typestore",
    "export_frames",
    "file_digest",
    "import_video",
    "make_qos",
    "read_info",
    "read_manifest",
    "read_video",
    "software_versions",
    "verify_checkpoint",
    "write_video",
]
