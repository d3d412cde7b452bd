"""rosbag2 bags without ROS: atomic writing, tolerant reading, summaries (MISSION C).

Human demonstrations reach the stack as rosbag2 bags (recorded live or
imported from video files); these bags are the same files ``ros2 bag``
writes and reads (mcap by default, sqlite3 on request), produced with the
``rosbags`` library.

Writing (:class:`BagWriter`) is atomic: the bag is built in a hidden
``.<name>.partial-<pid>`` directory next to the target and renamed into place
only when it is complete (storage closed, ``metadata.yaml`` written). A writer
that is killed never leaves a half-written bag under the target name; what it
had flushed stays readable in the partial directory (:class:`Bag` reads it).

Reading (:class:`Bag`) uses the rosbags reader for intact bags. A bag with a
truncated or corrupted storage file, or without ``metadata.yaml``, is read by
scanning the storage files (bag_recovery.py) up to the first damaged record:
:attr:`Bag.damage` says what is wrong and the readable messages are still
served. A path with nothing readable raises :class:`BagError` with the reason.

Messages are raw CDR bytes (what rclpy's raw subscriptions give and raw
publishers take); :meth:`Bag.decode` and :meth:`BagWriter.write` convert
to and from rosbags message objects through a typestore (typestore.py) that
knows the Jazzy messages, ``grounded_interfaces`` and every type the bag
itself defines.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import get_types_from_idl, get_types_from_msg
from rosbags.typesys.store import Typestore

from .bag_recovery import STORAGE_SUFFIXES, RawConnection, ScanResult, scan_file, storage_files
from .typestore import default_typestore, has_type, normalise_type_name

#: Storage formats of rosbag2 that the tools write; mcap is the Jazzy default.
STORAGES = ("mcap", "sqlite3")
DEFAULT_STORAGE = "mcap"
METADATA_FILE = "metadata.yaml"
#: rosbag2 format version written (Jazzy writes 9).
BAG_VERSION = 9
PARTIAL_MARK = ".partial-"


class BagError(ValueError):
    """A bag that cannot be written or read, with the reason."""


def make_qos(reliable: bool = True, transient_local: bool = False, depth: int = 10) -> Qos:
    """An offered QoS profile as rosbag2 stores it per topic (``ros2 bag play`` reuses it)."""
    zero = QosTime(0, 0)
    return Qos(
        history=QosHistory.KEEP_LAST,
        depth=int(depth),
        reliability=QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
        durability=QosDurability.TRANSIENT_LOCAL if transient_local else QosDurability.VOLATILE,
        deadline=zero,
        lifespan=zero,
        liveliness=QosLiveliness.AUTOMATIC,
        liveliness_lease_duration=zero,
        avoid_ros_namespace_conventions=False,
    )


@dataclass(frozen=True)
class TopicInfo:
    name: str
    msgtype: str
    message_count: int
    qos: tuple[Qos, ...] = ()

    @property
    def reliable(self) -> bool | None:
        """Whether the recorded publishers were reliable (None: unknown)."""
        if not self.qos:
            return None
        return all(q.reliability != QosReliability.BEST_EFFORT for q in self.qos)

    @property
    def transient_local(self) -> bool:
        return bool(self.qos) and all(
            q.durability == QosDurability.TRANSIENT_LOCAL for q in self.qos
        )


@dataclass(frozen=True)
class BagMessage:
    """One message as stored: topic, type, receive time (ns) and CDR bytes."""

    topic: str
    msgtype: str
    timestamp: int
    data: bytes


@dataclass(frozen=True)
class BagInfo:
    """Summary of a bag (what ``grounded-bag info`` prints)."""

    path: Path
    storage: str
    message_count: int
    start_ns: int
    end_ns: int
    topics: tuple[TopicInfo, ...]
    damage: str | None
    custom_data: dict

    @property
    def duration_s(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e9

    def topic(self, name: str) -> TopicInfo:
        for info in self.topics:
            if info.name == name:
                return info
        raise BagError(f"bag {self.path} has no topic {name!r}; topics: {self.topic_names}")

    @property
    def topic_names(self) -> list[str]:
        return [t.name for t in self.topics]

    def format(self) -> str:
        """Human-readable summary, like ``ros2 bag info``."""
        lines = [
            f"bag:        {self.path}",
            f"storage:    {self.storage}",
            f"duration:   {self.duration_s:.3f} s",
            f"start:      {self.start_ns / 1e9:.9f}",
            f"end:        {self.end_ns / 1e9:.9f}",
            f"messages:   {self.message_count}",
        ]
        if self.damage:
            lines.append(f"DAMAGED:    {self.damage} (counts are what could be read)")
        lines.append("topics:")
        width = max((len(t.name) for t in self.topics), default=0)
        for t in self.topics:
            qos = "" if t.reliable is None else (" reliable" if t.reliable else " best_effort")
            lines.append(f"  {t.name:<{width}}  {t.msgtype}  {t.message_count} msgs{qos}")
        for key, value in sorted(self.custom_data.items()):
            short = value if len(value) <= 60 else value[:57] + "..."
            lines.append(f"custom_data {key}: {short}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- writing


class BagWriter:
    """Write a rosbag2 bag atomically (see the module docstring).

    ::

        with BagWriter("out_bag") as bag:
            bag.add_topic("/image", "sensor_msgs/msg/Image")
            bag.write("/image", stamp_ns, image_msg)      # a rosbags message or CDR bytes
    """

    def __init__(
        self,
        path: str | Path,
        storage: str = DEFAULT_STORAGE,
        typestore: Typestore | None = None,
    ) -> None:
        if storage not in STORAGES:
            raise BagError(f"storage must be one of {STORAGES}, got {storage!r}")
        self.path = Path(path).absolute()
        if self.path.exists():
            raise BagError(f"{self.path} exists already; choose another output name")
        if not self.path.parent.is_dir():
            raise BagError(f"output directory {self.path.parent} does not exist")
        self.storage = storage
        self.typestore = typestore or default_typestore()
        self.partial_dir = self.path.parent / f".{self.path.name}{PARTIAL_MARK}{os.getpid()}"
        if self.partial_dir.exists():
            shutil.rmtree(self.partial_dir)
        self.partial_dir.mkdir()
        self._writer = Writer(
            self.partial_dir / self.path.name,
            version=BAG_VERSION,
            storage_plugin=StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3,
        )
        self._writer.open()
        self._connections: dict[str, object] = {}
        self._types: dict[str, str] = {}
        self.message_count = 0
        self._open = True

    @property
    def topics(self) -> dict[str, str]:
        """Topic -> message type of the topics added so far."""
        return dict(self._types)

    def add_topic(
        self,
        topic: str,
        msgtype: str,
        qos: Sequence[Qos] = (),
        msgdef: str | None = None,
    ) -> None:
        """Declare a topic (idempotent for the same type).

        ``msgdef`` (a ros2msg definition) is needed only for types the
        typestore does not know; it is registered from it.
        """
        self._check_open()
        msgtype = normalise_type_name(msgtype)
        if topic in self._types:
            if self._types[topic] != msgtype:
                raise BagError(f"topic {topic!r} was added as {self._types[topic]}, not {msgtype}")
            return
        if not has_type(self.typestore, msgtype):
            if not msgdef:
                raise BagError(
                    f"unknown message type {msgtype} for {topic!r}: not a Jazzy or "
                    "grounded_interfaces type and no definition given"
                )
            try:
                self.typestore.register(get_types_from_msg(msgdef, msgtype))
            except Exception as error:
                raise BagError(f"cannot parse the definition of {msgtype}: {error}") from None
        self._connections[topic] = self._writer.add_connection(
            topic, msgtype, typestore=self.typestore, offered_qos_profiles=list(qos)
        )
        self._types[topic] = msgtype

    def serialize(self, message: object, msgtype: str) -> bytes:
        """CDR bytes of a rosbags message object."""
        try:
            return bytes(self.typestore.serialize_cdr(message, normalise_type_name(msgtype)))
        except Exception as error:
            raise BagError(f"cannot serialise a {msgtype}: {error}") from None

    def write(self, topic: str, timestamp_ns: int, message: object) -> None:
        """Append one message (CDR bytes or a rosbags message object) at ``timestamp_ns``."""
        self._check_open()
        if topic not in self._connections:
            raise BagError(f"topic {topic!r} was not added to the bag")
        if isinstance(timestamp_ns, bool) or not isinstance(timestamp_ns, int) or timestamp_ns < 0:
            raise BagError(f"timestamp must be a non-negative int (ns), got {timestamp_ns!r}")
        if isinstance(message, bytes | bytearray | memoryview):
            data = bytes(message)
        else:
            data = self.serialize(message, self._types[topic])
        self._writer.write(self._connections[topic], timestamp_ns, data)
        self.message_count += 1

    def set_custom_data(self, key: str, value: str) -> None:
        """A string stored in metadata.yaml's custom_data (e.g. provenance)."""
        self._check_open()
        self._writer.set_custom_data(str(key), str(value))

    def close(self) -> Path:
        """Finish the storage, write metadata.yaml, move the bag into place; return its path."""
        self._check_open()
        self._open = False
        self._writer.close()
        if self.path.exists():
            raise BagError(
                f"{self.path} appeared while writing; the bag is left in {self.partial_dir}"
            )
        os.rename(self.partial_dir / self.path.name, self.path)
        self.partial_dir.rmdir()
        return self.path

    def abort(self) -> None:
        """Drop the bag being written (nothing appears under the target name)."""
        if self._open:
            self._open = False
            try:
                self._writer.abort()
            finally:
                shutil.rmtree(self.partial_dir, ignore_errors=True)

    def _check_open(self) -> None:
        if not self._open:
            raise BagError(f"bag writer for {self.path} is closed")

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


# --------------------------------------------------------------------------- reading


class Bag:
    """A rosbag2 bag to read: a bag directory, or a single .mcap/.db3 file.

    ``damage`` is None for an intact bag, else why it was read by scanning.
    """

    def __init__(self, path: str | Path, typestore: Typestore | None = None) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise BagError(f"no bag at {self.path}")
        self._typestore = typestore  # built on first decode: playback never needs it
        self.damage: str | None = None
        self._files: list[Path] = []
        self._reader: Reader | None = None
        self._connections: dict[int | tuple[Path, int], RawConnection] = {}
        self._counts: dict[int | tuple[Path, int], int] = {}
        self._start = self._end = 0
        self._storage = "unknown"
        self._custom: dict = {}
        self._qos: dict[str, tuple[Qos, ...]] = {}
        if self.path.is_file() and self.path.suffix not in STORAGE_SUFFIXES:
            raise BagError(f"{self.path} is neither a bag directory nor a .mcap/.db3 file")
        self._open()

    # -- opening

    def _storage_files(self) -> list[Path]:
        return [self.path] if self.path.is_file() else storage_files(self.path)

    def _open(self) -> None:
        if self.path.is_dir() and not (self.path / METADATA_FILE).is_file():
            self._files = self._storage_files()
            if not self._files:
                raise BagError(
                    f"{self.path} is not a bag: no {METADATA_FILE} and no .mcap/.db3 file"
                )
            self._scan_summary(f"no {METADATA_FILE} (the recorder did not finish)")
            return
        try:
            reader = Reader(self.path)
            reader.open()
        except Exception as error:  # rosbags raises several types for damaged files
            self._files = self._storage_files()
            if not self._files:
                raise BagError(f"cannot read bag {self.path}: {error}") from None
            self._scan_summary(f"the bag reader failed ({error})")
            return
        self._reader = reader
        self._files = self._storage_files()
        self._storage = _storage_of(self._files[0] if self._files else None)
        for conn in reader.connections:
            msgdef = conn.msgdef.data if conn.msgdef is not None else ""
            fmt = "ros2idl" if msgdef.startswith("=" * 80 + "\nIDL: ") else "ros2msg"
            self._connections[conn.id] = RawConnection(
                conn.id, conn.topic, conn.msgtype, msgdef, fmt
            )
            self._counts[conn.id] = conn.msgcount
            self._qos[conn.topic] = tuple(getattr(conn.ext, "offered_qos_profiles", ()) or ())
        if reader.message_count:
            self._start, self._end = reader.start_time, reader.end_time - 1
        self._custom = dict(reader.storage.metadata.custom or {})

    def _scan_summary(self, reason: str | None) -> None:
        """Scan the storage files once for topics, counts and times."""
        start, end, total = None, 0, 0
        damages = []
        for path in self._files:
            result = ScanResult()
            for cid, stamp, _ in scan_file(path, result):
                key = (path, cid)
                self._counts[key] = self._counts.get(key, 0) + 1
                start = stamp if start is None else min(start, stamp)
                end = max(end, stamp)
                total += 1
            for cid, conn in result.connections.items():
                self._connections[(path, cid)] = conn
            if result.damage:
                damages.append(result.damage)
        if total == 0 and damages:
            raise BagError(f"cannot read bag {self.path}: {'; '.join(damages)}")
        self._storage = _storage_of(self._files[0])
        self._start, self._end = start or 0, end
        parts = ([reason] if reason else []) + damages
        self.damage = "; ".join(parts) if parts else None

    @property
    def typestore(self) -> Typestore:
        """Jazzy + grounded_interfaces types, plus those the bag defines (added on demand)."""
        if self._typestore is None:
            self._typestore = default_typestore()
        return self._typestore

    # -- summary

    def info(self) -> BagInfo:
        by_topic: dict[str, TopicInfo] = {}
        for key, conn in self._connections.items():
            old = by_topic.get(conn.topic)
            count = self._counts.get(key, 0) + (old.message_count if old else 0)
            by_topic[conn.topic] = TopicInfo(
                conn.topic, conn.msgtype, count, self._qos.get(conn.topic, ())
            )
        return BagInfo(
            path=self.path,
            storage=self._storage,
            message_count=sum(t.message_count for t in by_topic.values()),
            start_ns=self._start,
            end_ns=self._end,
            topics=tuple(sorted(by_topic.values(), key=lambda t: t.name)),
            damage=self.damage,
            custom_data=self._custom,
        )

    # -- messages

    def messages(
        self,
        topics: Iterable[str] | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> Iterator[BagMessage]:
        """Messages in time order (file order for scanned bags), optionally filtered.

        A storage error half-way through an intact-looking bag switches to
        scanning; :attr:`damage` then says why.
        """
        wanted = None if topics is None else set(topics)
        if wanted is not None:
            unknown = wanted - {c.topic for c in self._connections.values()}
            if unknown:
                raise BagError(
                    f"bag {self.path} has no topic(s) {sorted(unknown)}; "
                    f"topics: {sorted({c.topic for c in self._connections.values()})}"
                )

        def keep(topic: str, stamp: int) -> bool:
            return (
                (wanted is None or topic in wanted)
                and (start_ns is None or stamp >= start_ns)
                and (end_ns is None or stamp <= end_ns)
            )

        last_stamp, same_stamp_count = -1, 0
        if self._reader is not None:
            conns = [c for c in self._reader.connections if wanted is None or c.topic in wanted]
            try:
                for conn, stamp, data in self._reader.messages(connections=conns):
                    if keep(conn.topic, stamp):
                        yield BagMessage(conn.topic, conn.msgtype, stamp, bytes(data))
                    same_stamp_count = same_stamp_count + 1 if stamp == last_stamp else 1
                    last_stamp = stamp
                return
            except Exception as error:
                self.damage = f"reading stopped ({error}); the rest was scanned"
                self._files = self._storage_files()
        for path in self._files:
            result = ScanResult()
            seen_at_last = 0
            for cid, stamp, data in scan_file(path, result):
                if stamp < last_stamp:
                    continue
                if stamp == last_stamp and seen_at_last < same_stamp_count:
                    seen_at_last += 1
                    continue
                conn = result.connections[cid]
                if keep(conn.topic, stamp):
                    yield BagMessage(conn.topic, conn.msgtype, stamp, data)
            if result.damage and (self.damage is None or result.damage not in self.damage):
                self.damage = f"{self.damage}; {result.damage}" if self.damage else result.damage

    def decode(self, message: BagMessage) -> object:
        """The rosbags message object of a :class:`BagMessage`."""
        self._ensure_type(message.msgtype)
        try:
            return self.typestore.deserialize_cdr(message.data, message.msgtype)
        except Exception as error:
            raise BagError(
                f"cannot decode a {message.msgtype} on {message.topic} at {message.timestamp}: "
                f"{error}"
            ) from None

    def _ensure_type(self, msgtype: str) -> None:
        if has_type(self.typestore, msgtype):
            return
        for conn in self._connections.values():
            if conn.msgtype == msgtype and conn.msgdef:
                try:
                    if conn.msgdef_encoding == "ros2idl":
                        types: dict = {}
                        for part in conn.msgdef.split("=" * 80 + "\n")[1:]:
                            types.update(get_types_from_idl(part.split("\n", 1)[1]))
                    else:
                        types = get_types_from_msg(conn.msgdef, msgtype)
                    self.typestore.register(types)
                    return
                except Exception as error:
                    raise BagError(
                        f"cannot parse the bag's definition of {msgtype}: {error}"
                    ) from None
        raise BagError(f"message type {msgtype} is unknown and the bag has no definition for it")

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __enter__(self) -> Bag:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _storage_of(path: Path | None) -> str:
    return STORAGE_SUFFIXES.get(path.suffix, "unknown") if path is not None else "unknown"


def read_info(path: str | Path) -> BagInfo:
    """Summary of the bag at ``path``."""
    with Bag(path) as bag:
        return bag.info()
