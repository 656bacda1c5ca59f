"""Stream a multipart upload straight into storage under a hard byte limit, whatever the framing.

The body is read chunk by chunk as it arrives (Content-Length or chunked alike); the file part goes to
the blob store as it is parsed, and the request is refused with 413 the moment it passes the limit, so
nothing larger than the limit is ever written anywhere and no second copy is made.
"""

import functools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
from anyio.streams.memory import MemoryObjectSendStream
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from app.core.problems import FileTooLarge, InvalidField, ProblemError
from secateur.kernel.models import new_id
from secateur.kernel.settings import Settings
from secateur.kernel.storage import Storage, TooLarge

# Multipart framing (boundaries, part headers, the purpose field) on top of the file itself.
FRAMING_BYTES = 64 * 1024
_MAX_FIELD_BYTES = 64
_QUEUE_CHUNKS = 4


@dataclass
class Received:
    """What the form held: the purpose, and the file as stored (its key, size and digest)."""

    purpose: str | None = None
    file_id: str = field(default_factory=lambda: new_id("file"))
    filename: str | None = None
    key: str | None = None
    size: int = 0
    sha256: str = ""
    complete: bool = False  # the file part's closing boundary arrived
    fields: dict[str, bytearray] = field(default_factory=dict)


def too_large(limit: int, what: str = "An upload") -> FileTooLarge:
    """The 413 problem for an upload past its limit."""
    return FileTooLarge(f"{what} may be at most {limit} bytes.")


def upload_limit(settings: Settings, purpose: str | None) -> int:
    """The byte limit for this purpose; the larger one while the purpose is not yet known."""
    if purpose == "model":
        return settings.max_model_upload_bytes
    if purpose == "dataset":
        return settings.max_dataset_upload_bytes
    return max(settings.max_model_upload_bytes, settings.max_dataset_upload_bytes)


class _Form:
    """python-multipart callbacks, turned into a list of events the async side acts on."""

    def __init__(self, boundary: bytes) -> None:
        """A parser for one body with this boundary."""
        self.events: list[tuple[str, Any]] = []
        self._header_name, self._header_value = bytearray(), bytearray()
        self._disposition = b""
        callbacks: Any = {
            "on_part_begin": self._begin,
            "on_header_field": lambda d, s, e: self._header_name.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_done,
            "on_part_data": lambda d, s, e: self.events.append(("data", bytes(d[s:e]))),
            "on_part_end": lambda: self.events.append(("end", None)),
        }
        self.parser = MultipartParser(boundary, callbacks)

    def _begin(self) -> None:
        self._disposition = b""

    def _header_end(self) -> None:
        if bytes(self._header_name).lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_done(self) -> None:
        _, options = parse_options_header(self._disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        self.events.append(
            ("part", (name, None if filename is None else filename.decode("utf-8", "replace")))
        )


def _boundary(content_type: str) -> bytes:
    """The multipart boundary, or a 422 naming the body."""
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise InvalidField("file", "the form needs a `file` part, sent as multipart/form-data")
    return boundary


def _suffix_of(name: str, suffixes: tuple[str, ...]) -> str:
    """The accepted suffix `name` ends in; 422 naming `file` otherwise."""
    lower = name.lower()
    for suffix in suffixes:
        if lower.endswith(suffix):
            return suffix
    raise InvalidField("file", f"the file must end in one of {', '.join(suffixes)}; got {name!r}")


async def receive_upload(
    body: AsyncIterator[bytes],
    *,
    content_type: str,
    storage: Storage,
    settings: Settings,
    suffixes: tuple[str, ...],
) -> Received:
    """Parse the form as it arrives and stream its file into storage; on any failure nothing is kept."""
    form, received = _Form(_boundary(content_type)), Received()
    try:
        await _receive(
            body, form=form, storage=storage, settings=settings, suffixes=suffixes, received=received
        )
    except BaseException:
        if received.key is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(storage.delete, received.key)
        raise
    return received


def _one_error(group: ExceptionGroup, settings: Settings, received: Received) -> Exception:
    """The error a failed upload answers with: the size limit first, then a problem, else the first."""
    errors = _leaves(group)
    if any(isinstance(error, TooLarge) for error in errors):
        return too_large(upload_limit(settings, received.purpose))
    problems = [error for error in errors if isinstance(error, ProblemError)]
    # Anything else (a client that went away, a storage error) surfaces as itself, not as a group.
    return problems[0] if problems else errors[0]


def _leaves(group: ExceptionGroup) -> list[Exception]:
    """The exceptions of a (possibly nested) group, in order."""
    leaves: list[Exception] = []
    for error in group.exceptions:
        leaves.extend(_leaves(error) if isinstance(error, ExceptionGroup) else [error])
    return leaves


async def _receive(
    body: AsyncIterator[bytes],
    *,
    form: _Form,
    storage: Storage,
    settings: Settings,
    suffixes: tuple[str, ...],
    received: Received,
) -> None:
    """Feed the body to the parser and each file chunk to the storage writer, counting every byte."""
    total = 0
    current: tuple[str, str | None] | None = None
    send: MemoryObjectSendStream[bytes] | None = None
    try:
        async with anyio.create_task_group() as group:
            try:
                async for chunk in body:
                    total += len(chunk)
                    limit = upload_limit(settings, received.purpose)
                    if total > limit + FRAMING_BYTES:
                        raise too_large(limit)
                    try:
                        form.parser.write(chunk)
                    except MultipartParseError as exc:
                        raise InvalidField("body", f"the multipart body is malformed ({exc})") from exc
                    for event, value in form.events:
                        if event == "part":
                            current = value
                            if value[0] == "file" and value[1] is not None:
                                if received.key is not None:
                                    raise InvalidField("file", "send exactly one file")
                                send = _start_file(
                                    group,
                                    storage=storage,
                                    settings=settings,
                                    received=received,
                                    raw_name=value[1],
                                    suffixes=suffixes,
                                )
                        elif event == "data" and current is not None:
                            await _part_data(current, value, received, send)
                        elif event == "end" and current is not None:
                            received.complete = received.complete or current[0] == "file"
                            current = None
                    form.events.clear()
            finally:
                # Always end the file's stream, so its writer thread finishes instead of waiting forever.
                if send is not None:
                    send.close()
    except ExceptionGroup as group_error:
        # The reader and the writer thread may both fail (both see the limit): answer with one error.
        error = _one_error(group_error, settings, received)
        raise error from error.__cause__
    field_value = received.fields.get("purpose")
    received.purpose = None if field_value is None else field_value.decode("utf-8", "replace")


async def _part_data(
    current: tuple[str, str | None],
    data: bytes,
    received: Received,
    send: MemoryObjectSendStream[bytes] | None,
) -> None:
    """Route one piece of a part: file bytes to storage, small fields into memory."""
    name, filename = current
    if name == "file" and filename is not None and send is not None:
        await send.send(data)
        return
    buffer = received.fields.setdefault(name, bytearray())
    buffer.extend(data)
    if len(buffer) > _MAX_FIELD_BYTES:
        raise InvalidField(name, f"the field is longer than {_MAX_FIELD_BYTES} bytes")
    if name == "purpose":
        received.purpose = buffer.decode("utf-8", "replace")


def _start_file(
    group: anyio.abc.TaskGroup,
    *,
    storage: Storage,
    settings: Settings,
    received: Received,
    raw_name: str,
    suffixes: tuple[str, ...],
) -> MemoryObjectSendStream[bytes]:
    """Begin saving the file part in a worker thread; returns where its bytes go."""
    name = PurePath(raw_name.replace("\\", "/")).name.strip()
    if not name:
        raise InvalidField("file", "the upload needs a file name")
    if len(name) > 255:
        raise InvalidField("file", "the file name is longer than 255 characters")
    received.filename = name
    received.key = f"files/{received.file_id}{_suffix_of(name, suffixes)}"
    send, receive = anyio.create_memory_object_stream[bytes](_QUEUE_CHUNKS)
    limit = upload_limit(settings, received.purpose)

    def chunks() -> Iterator[bytes]:
        """The file's bytes, pulled from the event loop as they arrive."""
        while True:
            try:
                yield anyio.from_thread.run(receive.receive)
            except anyio.EndOfStream:
                return

    async def save() -> None:
        """Write the blob off the event loop; the limit is enforced there too."""
        async with receive:
            assert received.key is not None
            size, digest = await anyio.to_thread.run_sync(
                storage.save_stream,
                received.key,
                chunks(),
                limit,
                limiter=_writers(settings.upload_concurrency),
            )
            received.size, received.sha256 = size, digest

    group.start_soon(save)
    return send


@functools.cache
def _writers(concurrency: int) -> anyio.CapacityLimiter:
    """Threads for upload writers, apart from the pool that serves every other request."""
    return anyio.CapacityLimiter(concurrency)
