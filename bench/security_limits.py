"""The security probe's large cases, measured against a live API: `python -m bench.security_limits`.

Starts the API (SQLite and blobs in a temporary directory, the uvicorn options of `secateur serve`) in
this process and prints, for each case, how long the refusal took and what it cost:

- a chunked upload of `--upload-gib` refused at the dataset limit: bytes the client got to send, the
  largest amount of disk the data dir and the temp dir ever held, and the API's RSS growth;
- a `--header-mib` request header refused, and /healthz latency while it is sent;
- a gzip bomb (`--bomb-gib` of zeros in one tar member) and a tar of `--entries` empty files, checked
  by `check_archive` with the default limits.
"""

import argparse
import contextlib
import gzip
import io
import os
import resource
import socket
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

MIB = 1024 * 1024


def _tree_bytes(*roots: Path) -> int:
    """Bytes in regular files under the roots (a partial blob included)."""
    total = 0
    for root in roots:
        for dirpath, _, names in os.walk(root):
            for name in names:
                with contextlib.suppress(FileNotFoundError):  # a blob deleted while we walk
                    total += (Path(dirpath) / name).stat().st_size
    return total


class _DiskWatch:
    """Poll the disk use of some folders in a thread and keep the peak."""

    def __init__(self, *roots: Path) -> None:
        self.roots, self.peak, self._stop = roots, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_bytes(*self.roots))
            time.sleep(0.02)

    def __enter__(self) -> "_DiskWatch":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _start_api(data_dir: Path) -> tuple[str, str]:
    """Migrate a fresh SQLite database, make a key, serve the API in a thread; returns (url, key)."""
    os.environ.update(SECATEUR_DATA_DIR=str(data_dir), SECATEUR_QUEUE="local")
    import uvicorn

    from app.core.server import server_options
    from app.keys.service import create_key
    from app.main import create_app
    from secateur.kernel.db import session_scope
    from secateur.kernel.migrate import upgrade_to_head
    from secateur.kernel.settings import get_settings

    upgrade_to_head()
    with session_scope() as session:
        _, key = create_key(session, "bench")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(), port=port, log_level="error", **server_options(get_settings()))
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", key


def _rss_mib() -> float:
    """This process's peak resident memory so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_upload(url: str, *, key: str, gib: float, data_dir: Path, spool: Path) -> None:
    """A chunked dataset upload of `gib` GiB: refused at the limit, disk and memory bounded."""
    boundary, chunk = "bench", b"x" * MIB
    total, sent = int(gib * 1024 * MIB), 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\ndataset\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'
        ).encode()
        while sent < total:
            sent += len(chunk)
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    rss_before = _rss_mib()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": f"multipart/form-data; boundary={boundary}"}
    with _DiskWatch(data_dir, spool) as disk:
        baseline = _tree_bytes(*disk.roots)
        started = time.perf_counter()
        try:
            status = httpx.post(f"{url}/v1/files", content=body(), headers=headers, timeout=600).status_code
        except httpx.HTTPError as exc:
            status = f"connection closed ({type(exc).__name__})"  # type: ignore[assignment]
        took = time.perf_counter() - started
    print(
        f"chunked upload of {gib:g} GiB: status {status} in {took:.2f} s; client sent {sent / MIB:.0f} MiB; "
        f"peak extra disk {(disk.peak - baseline) / MIB:.1f} MiB (limit 512 MiB); "
        f"peak RSS +{_rss_mib() - rss_before:.0f} MiB"
    )


def bench_header(url: str, mib: int) -> None:
    """A request head of `mib` MiB, and /healthz answered while it is being sent."""
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while not stop.is_set():
                started = time.perf_counter()
                client.get("/healthz")
                latencies.append(time.perf_counter() - started)
                time.sleep(0.05)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    started = time.perf_counter()
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        with contextlib.suppress(OSError):  # the server closes once the head passes its limit
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (mib * MIB) + b"\r\n\r\n")
        answer = sock.recv(100).split(b"\r\n", 1)[0].decode()
    took = time.perf_counter() - started
    stop.set()
    prober.join()
    print(
        f"{mib} MiB header: {answer!r} after {took:.2f} s; /healthz max {max(latencies) * 1000:.0f} ms "
        f"over {len(latencies)} probes"
    )


def bench_archives(gib: float, entries: int, scratch: Path) -> None:
    """check_archive on a gzip bomb and on a tar of many empty entries, with the default settings."""
    from secateur.kernel.files.archive import ArchiveError, check_archive
    from secateur.kernel.settings import Settings

    settings = Settings(_env_file=None)
    bomb = scratch / "bomb.tar.gz"
    size = int(gib * 1024 * MIB)
    with gzip.open(bomb, "wb", compresslevel=9) as raw, tarfile.open(fileobj=raw, mode="w|") as tar:
        info = tarfile.TarInfo("zeros.txt")
        info.size = size
        tar.addfile(info, _Zeros(size))
    many = scratch / "many.tar.gz"
    with tarfile.open(many, "w:gz") as tar:
        for i in range(entries):
            tar.addfile(tarfile.TarInfo(f"f/{i}"), io.BytesIO(b""))
    for path, what in ((bomb, f"{gib:g} GiB gzip bomb"), (many, f"tar of {entries} entries")):
        started, rss = time.perf_counter(), _rss_mib()
        try:
            check_archive(path, path.name, settings)
            verdict = "accepted"
        except ArchiveError as exc:
            verdict = f"refused: {exc}"
        print(
            f"{what} ({path.stat().st_size / MIB:.1f} MiB packed): {verdict}; "
            f"{time.perf_counter() - started:.2f} s, peak RSS +{_rss_mib() - rss:.0f} MiB"
        )


class _Zeros(io.RawIOBase):
    """`size` zero bytes, read without holding them."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "memoryview | bytearray") -> int:  # type: ignore[override]
        count = min(len(buffer), self.left)
        buffer[:count] = bytes(count)
        self.left -= count
        return count


def main() -> None:
    """Run every case once and print its figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--upload-gib", type=float, default=1.0)
    parser.add_argument("--header-mib", type=int, default=100)
    parser.add_argument("--bomb-gib", type=float, default=1.0)
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir, spool = Path(tmp) / "data", Path(tmp) / "tmp"
        spool.mkdir()
        tempfile.tempdir = str(spool)  # any temporary file the API made would show in the disk peak
        url, key = _start_api(data_dir)
        bench_upload(url, key=key, gib=args.upload_gib, data_dir=data_dir, spool=spool)
        bench_header(url, args.header_mib)
        bench_archives(args.bomb_gib, args.entries, Path(tmp))


if __name__ == "__main__":
    main()
