"""Read what can be read from damaged rosbag2 storage files (mcap and sqlite3).

The ``rosbags`` reader needs an intact bag: mcap files with their summary
section, sqlite3 files that open cleanly, a ``metadata.yaml``. A recorder that
was killed (SIGKILL, power loss) or a file cut short in a copy leaves none of
that, yet most messages are still on disk. These scanners read storage files
directly and stop at the first damaged record, reporting why:

* mcap: the record stream (magic, then ``opcode u8 | length u64 | body``),
  descending into chunks (uncompressed or zstd) for schemas, channels and
  messages; the summary section is not needed.
* sqlite3: the ``topics``, ``message_definitions`` and ``messages`` tables of
  the rosbag2 schema, read-only; rows are read until sqlite reports damage.

Messages come in file order (a recorder writes them in arrival order).
"""

from __future__ import annotations

import mmap
import sqlite3
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

MCAP_MAGIC = b"\x89MCAP0\r\n"
OP_SCHEMA, OP_CHANNEL, OP_MESSAGE, OP_CHUNK, OP_DATA_END = 0x03, 0x04, 0x05, 0x06, 0x0F
STORAGE_SUFFIXES = {".mcap": "mcap", ".db3": "sqlite3"}


class DamagedStorage(Exception):
    """Raised inside the scanners; carries the reason the scan stopped."""


@dataclass
class RawConnection:
    """A topic as a storage file declares it."""

    id: int
    topic: str
    msgtype: str
    msgdef: str = ""
    msgdef_encoding: str = "ros2msg"
    serialization_format: str = "cdr"
    qos: str = ""


@dataclass
class ScanResult:
    """Connections seen so far and why scanning stopped (None: the file ended cleanly)."""

    connections: dict[int, RawConnection] = field(default_factory=dict)
    damage: str | None = None


def storage_files(directory: Path) -> list[Path]:
    """The mcap/db3 files of a bag directory, sorted by name (split bags in order)."""
    return sorted(p for p in Path(directory).iterdir() if p.suffix in STORAGE_SUFFIXES)


def scan_file(path: Path, result: ScanResult) -> Iterator[tuple[int, int, bytes]]:
    """Yield (connection id, timestamp ns, CDR bytes); fill ``result`` as it goes.

    Never raises for damaged content: the reason goes to ``result.damage``.
    """
    path = Path(path)
    try:
        if path.suffix == ".mcap":
            yield from _scan_mcap(path, result)
        elif path.suffix == ".db3":
            yield from _scan_sqlite(path, result)
        else:
            result.damage = f"{path.name}: not an mcap or sqlite3 storage file"
    except DamagedStorage as error:
        result.damage = f"{path.name}: {error}"


# --------------------------------------------------------------------------- mcap


class _Cursor:
    def __init__(self, data: bytes | memoryview, what: str) -> None:
        self.data, self.pos, self.what = memoryview(data), 0, what

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise DamagedStorage(f"{self.what} cut short at byte {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u16(self) -> int:
        return struct.unpack("<H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    def u64(self) -> int:
        return struct.unpack("<Q", self.take(8))[0]

    def string(self) -> str:
        try:
            return bytes(self.take(self.u32())).decode("utf-8")
        except UnicodeDecodeError as error:
            raise DamagedStorage(f"{self.what}: bad string ({error})") from None

    def at_end(self) -> bool:
        return self.pos >= len(self.data)


def _records(cursor: _Cursor) -> Iterator[tuple[int, memoryview]]:
    while not cursor.at_end():
        if len(cursor.data) - cursor.pos < 9:
            raise DamagedStorage(f"{cursor.what}: truncated record header at byte {cursor.pos}")
        opcode = cursor.take(1)[0]
        length = cursor.u64()
        if length > len(cursor.data) - cursor.pos:
            raise DamagedStorage(
                f"{cursor.what}: record at byte {cursor.pos - 9} needs {length} bytes, "
                f"only {len(cursor.data) - cursor.pos} left (file truncated?)"
            )
        yield opcode, cursor.take(length)


def _handle(opcode: int, body: memoryview, schemas: dict, result: ScanResult):
    """Decode one schema/channel/message record; return a message tuple or None."""
    rec = _Cursor(body, f"record 0x{opcode:02x}")
    if opcode == OP_SCHEMA:
        sid, name, encoding = rec.u16(), rec.string(), rec.string()
        data = bytes(rec.take(rec.u32())).decode("utf-8", errors="replace")
        schemas[sid] = (name, encoding, data)
    elif opcode == OP_CHANNEL:
        cid, sid, topic, encoding = rec.u16(), rec.u16(), rec.string(), rec.string()
        meta = _Cursor(rec.take(rec.u32()), "channel metadata")
        metadata = {}
        while not meta.at_end():
            key = meta.string()
            metadata[key] = meta.string()
        name, def_encoding, msgdef = schemas.get(sid, ("", "ros2msg", ""))
        if not name:
            raise DamagedStorage(f"channel {topic!r} refers to unknown schema {sid}")
        result.connections[cid] = RawConnection(
            cid,
            topic,
            name,
            msgdef,
            def_encoding,
            encoding,
            metadata.get("offered_qos_profiles", ""),
        )
    elif opcode == OP_MESSAGE:
        cid = rec.u16()
        rec.u32()  # sequence
        log_time = rec.u64()
        rec.u64()  # publish time
        if cid not in result.connections:
            raise DamagedStorage(f"message on unknown channel {cid}")
        return cid, log_time, bytes(rec.data[rec.pos :])
    return None


def _decompress(compression: str, data: memoryview, size: int) -> bytes:
    if compression == "":
        return bytes(data)
    if compression == "zstd":
        try:
            from backports import zstd  # rosbags' own dependency on Python < 3.14
        except ImportError:  # pragma: no cover - Python >= 3.14
            from compression import zstd
        try:
            return zstd.decompress(bytes(data))
        except Exception as error:
            raise DamagedStorage(f"chunk does not decompress ({error})") from None
    raise DamagedStorage(f"chunk compression {compression!r} is not supported")


def _scan_mcap(path: Path, result: ScanResult) -> Iterator[tuple[int, int, bytes]]:
    # Memory-mapped: a damaged multi-GB recording is scanned without reading it all in.
    with open(path, "rb") as file:
        if path.stat().st_size < len(MCAP_MAGIC) or file.read(len(MCAP_MAGIC)) != MCAP_MAGIC:
            raise DamagedStorage("not an mcap file (bad magic bytes)")
        data = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    cursor = _Cursor(memoryview(data)[len(MCAP_MAGIC) :], "mcap")
    schemas: dict = {}
    for opcode, body in _records(cursor):
        if opcode == OP_DATA_END:
            return
        if opcode == OP_CHUNK:
            chunk = _Cursor(body, "chunk")
            chunk.u64(), chunk.u64()  # message start / end time
            size = chunk.u64()
            chunk.u32()  # crc
            compression = chunk.string()
            records = _decompress(compression, chunk.take(chunk.u64()), size)
            for inner_op, inner in _records(_Cursor(records, "chunk records")):
                message = _handle(inner_op, inner, schemas, result)
                if message is not None:
                    yield message
        else:
            message = _handle(opcode, body, schemas, result)
            if message is not None:
                yield message
    raise DamagedStorage("file ends without the mcap data-end record (recorder killed?)")


# --------------------------------------------------------------------------- sqlite3


def _scan_sqlite(path: Path, result: ScanResult) -> Iterator[tuple[int, int, bytes]]:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise DamagedStorage(f"sqlite cannot open it ({error})") from None
    try:
        try:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(topics)")}
            if not columns:
                raise DamagedStorage("no rosbag2 'topics' table (empty or not a bag database)")
            qos_column = "offered_qos_profiles" if "offered_qos_profiles" in columns else "''"
            rows = conn.execute(
                f"SELECT id, name, type, serialization_format, {qos_column} FROM topics"
            ).fetchall()
            definitions = {}
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if "message_definitions" in tables:
                for type_name, encoding, text in conn.execute(
                    "SELECT topic_type, encoding, encoded_message_definition "
                    "FROM message_definitions"
                ):
                    definitions[type_name] = (encoding, text)
        except sqlite3.Error as error:
            raise DamagedStorage(f"sqlite cannot read the topics ({error})") from None
        for tid, name, msgtype, fmt, qos in rows:
            encoding, text = definitions.get(msgtype, ("ros2msg", ""))
            result.connections[tid] = RawConnection(tid, name, msgtype, text, encoding, fmt, qos)
        try:
            for tid, stamp, blob in conn.execute(
                "SELECT topic_id, timestamp, data FROM messages ORDER BY id"
            ):
                if tid in result.connections:
                    yield tid, int(stamp), bytes(blob)
        except sqlite3.Error as error:
            raise DamagedStorage(f"sqlite stopped reading messages ({error})") from None
    finally:
        conn.close()
