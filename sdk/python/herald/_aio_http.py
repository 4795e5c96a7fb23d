"""HTTP/1.1 over asyncio streams, just what the hub needs: a request, a response's status and headers,
and its body whole or a line at a time (Content-Length, chunked, or until the connection closes).
The standard library has no asyncio HTTP client; this one keeps the SDK free of dependencies."""

from __future__ import annotations

import asyncio
import ssl
from typing import Dict, Mapping, Optional

from ._http import Answer, HubAddress, describe_network_error
from .errors import HubUnreachable

MAX_HEADER_BYTES = 64 * 1024


class AsyncResponse:
    """A response whose body is read from ``reader`` as it arrives."""

    def __init__(self, status: int, headers: Dict[str, str], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.status = status
        self.headers = headers
        self._reader = reader
        self._writer = writer
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        self._remaining: Optional[int] = int(length) if length is not None and not self._chunked else None
        self._chunk_left = 0
        self._done = False
        self._buffer = b""

    async def _read_some(self) -> bytes:
        """The next piece of the body, b"" at its end."""
        if self._done:
            return b""
        if self._chunked:
            if self._chunk_left == 0:
                size_line = await self._reader.readline()
                if not size_line:
                    raise ConnectionResetError("the connection closed inside a chunked body")
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    await self._reader.readline()  # the empty trailer
                    self._done = True
                    return b""
                self._chunk_left = size
            data = await self._reader.read(self._chunk_left)
            if not data:
                raise ConnectionResetError("the connection closed inside a chunk")
            self._chunk_left -= len(data)
            if self._chunk_left == 0:
                await self._reader.readexactly(2)  # CRLF after the chunk
            return data
        if self._remaining is not None:
            if self._remaining == 0:
                self._done = True
                return b""
            data = await self._reader.read(min(self._remaining, 65536))
            if not data:
                raise ConnectionResetError("the connection closed before the whole body came")
            self._remaining -= len(data)
            return data
        data = await self._reader.read(65536)
        if not data:
            self._done = True
        return data

    async def read(self) -> bytes:
        parts = [self._buffer]
        self._buffer = b""
        while True:
            data = await self._read_some()
            if not data:
                return b"".join(parts)
            parts.append(data)

    async def readline(self) -> bytes:
        """One line with its ``\\n``, or what is left (b"" at the end of the body)."""
        while b"\n" not in self._buffer:
            data = await self._read_some()
            if not data:
                line, self._buffer = self._buffer, b""
                return line
            self._buffer += data
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line + b"\n"

    def close(self) -> None:
        self._writer.close()


async def open_request(address: HubAddress, method: str, path: str, headers: Mapping[str, str], body: Optional[bytes], timeout: float) -> AsyncResponse:
    """Connects, sends the request, and reads the status line and headers within ``timeout``."""
    writer: Optional[asyncio.StreamWriter] = None
    try:
        context = ssl.create_default_context() if address.scheme == "https" else None
        reader, writer = await asyncio.wait_for(asyncio.open_connection(address.host, address.port, ssl=context, limit=MAX_HEADER_BYTES), timeout)
        host = f"[{address.host}]" if ":" in address.host else address.host
        lines = [f"{method} {address.prefix}{path} HTTP/1.1", f"host: {host}:{address.port}", "connection: close"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body is not None:
            lines.append(f"content-length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
        if writer is not None:
            writer.close()
        raise HubUnreachable(f"no answer from {address.url} ({describe_network_error(error) if not isinstance(error, asyncio.TimeoutError) else 'timed out'})") from None
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(status_line.split(" ", 2)[1])
    except (IndexError, ValueError):
        writer.close()
        raise HubUnreachable(f"{address.url} did not answer HTTP ({status_line[:60]!r})") from None
    parsed: Dict[str, str] = {}
    for line in header_lines:
        if ":" in line:
            name, _, value = line.partition(":")
            parsed[name.strip().lower()] = value.strip()
    return AsyncResponse(status, parsed, reader, writer)


async def request(address: HubAddress, method: str, path: str, headers: Mapping[str, str], body: Optional[bytes], timeout: float) -> Answer:
    """One whole request and answer, within ``timeout``."""
    response = await open_request(address, method, path, headers, body, timeout)
    try:
        data = await asyncio.wait_for(response.read(), timeout)
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as error:
        raise HubUnreachable(f"the answer from {address.url} broke off ({type(error).__name__})") from None
    finally:
        response.close()
    return Answer(response.status, response.headers, data)
