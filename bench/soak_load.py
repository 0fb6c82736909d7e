#!/usr/bin/env python3
"""The soak's load: many concurrent clients against one agent, every answer checked.

Each client keeps a connection (HTTP/1.1 keep-alive) and draws, request after request, one
of: a whole blob (hits of a few hot blobs, misses of the rest, which a small cache keeps
evicting, so that many clients miss the same blob at once), a byte range of a blob, a HEAD,
a manifest by tag or by digest, a bad request (malformed digest, unknown blob, wrong or
no credentials, an unsatisfiable range, a request line that is not HTTP, a header of 1 MiB),
a reader that stops reading mid-body for seconds and then hangs up, and a
connection that never sends a request. Every body is checked against its digest or the
blob's bytes; a bad request must get a 4xx (or the connection closed), never a 2xx or a
5xx. Meanwhile the agent's RSS and open descriptors are sampled from /proc.

Writes a JSON summary (--out) and prints it; the shell script decides pass or fail.
Plain asyncio sockets, no HTTP library: the stalled readers, idle connections and broken
requests need control of the socket that client libraries do not give.
"""
import argparse
import asyncio
import base64
import hashlib
import json
import os
import random
import time


class Wrong(Exception):
    """An answer that is wrong: counted, and the test fails."""


class Stats:
    def __init__(self):
        self.latencies = {}   # kind -> [seconds]
        self.counts = {}      # kind -> requests answered as expected
        self.wrong = []       # descriptions of wrong answers (first 50 kept)
        self.wrong_count = 0
        self.errors = {}      # kind -> connection errors (reset, closed early)
        self.bytes = 0
        self.rss = []         # (t, MiB)
        self.fds = []         # (t, count)

    def ok(self, kind, seconds):
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.latencies.setdefault(kind, []).append(seconds)

    def bad(self, kind, what):
        self.wrong_count += 1
        if len(self.wrong) < 50:
            self.wrong.append(f"{kind}: {what}")

    def error(self, kind):
        self.errors[kind] = self.errors.get(kind, 0) + 1


def percentile(values, p):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


class Connection:
    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def open(self):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)

    def close(self):
        if self.writer is not None:
            self.writer.transport.abort()
        self.reader = self.writer = None

    async def send(self, method, path, headers):
        await self.open()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()

    async def head(self):
        """Reads a response's status line and headers."""
        line = await self.reader.readline()
        if not line:
            raise ConnectionError("closed before the status line")
        parts = line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise Wrong(f"not an HTTP status line: {line[:80]!r}")
        status = int(parts[1])
        headers = {}
        while True:
            h = await self.reader.readline()
            if h in (b"\r\n", b"\n"):
                break
            if not h:
                raise ConnectionError("closed in the headers")
            k, _, v = h.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        return status, headers

    async def body(self, headers, sink, limit=None):
        """Reads the body into `sink(bytes)`; returns False if it stopped at `limit` bytes."""
        read = 0
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await self.reader.readline()).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while (await self.reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                    return True
                sink(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
        elif "content-length" in headers:
            left = int(headers["content-length"])
            while left > 0:
                if limit is not None and read >= limit:
                    return False
                chunk = await self.reader.read(min(left, 1 << 18))
                if not chunk:
                    raise ConnectionError(f"closed with {left} bytes of the body missing")
                sink(chunk)
                left -= len(chunk)
                read += len(chunk)
            return True
        else:
            while True:
                chunk = await self.reader.read(1 << 18)
                if not chunk:
                    self.close()
                    return True
                sink(chunk)

    async def request(self, method, path, headers, sink=None):
        await self.send(method, path, headers)
        status, h = await self.head()
        if method != "HEAD" and status not in (204, 304):
            await self.body(h, sink or (lambda b: None))
        if h.get("connection", "").lower() == "close":
            self.close()
        return status, h


class Load:
    def __init__(self, a, blobs, manifest):
        self.a = a
        self.host, port = a.agent.rsplit(":", 1)
        self.port = int(port)
        self.blobs = blobs                      # [{digest, size, path}]
        self.manifest = manifest                # {tag, digest, mediaType}
        self.auth = "Basic " + base64.b64encode(f"{a.user}:{a.password}".encode()).decode()
        self.bad_auth = "Basic " + base64.b64encode(f"{a.user}:not-{a.password}".encode()).decode()
        self.stats = Stats()
        self.deadline = time.monotonic() + a.duration
        self.rng = random.Random(a.seed)
        # A few hot blobs (hits), the rest drawn evenly (misses once evicted).
        self.hot = blobs[: max(1, len(blobs) // 8)]
        self.files = {b["digest"]: open(b["path"], "rb") for b in blobs}

    def repo_path(self, rest):
        return f"/v2/{self.a.repository}/{rest}"

    def pick_blob(self, rng):
        return rng.choice(self.hot) if rng.random() < 0.5 else rng.choice(self.blobs)

    def expected(self, blob, start, end):
        f = self.files[blob["digest"]]
        f.seek(start)
        return f.read(end - start + 1)

    # One request of each kind; each returns the kind's name, raises Wrong or ConnectionError.

    async def blob(self, c, rng):
        b = self.pick_blob(rng)
        h = hashlib.sha256()
        n = [0]

        def sink(chunk):
            h.update(chunk)
            n[0] += len(chunk)
        status, _ = await c.request("GET", self.repo_path(f"blobs/{b['digest']}"), {"Authorization": self.auth}, sink)
        if status != 200:
            raise Wrong(f"GET {b['digest'][:19]}: status {status}")
        if n[0] != b["size"] or "sha256:" + h.hexdigest() != b["digest"]:
            raise Wrong(f"GET {b['digest'][:19]}: {n[0]} bytes of {b['size']} with digest sha256:{h.hexdigest()[:12]}")
        self.stats.bytes += n[0]
        return "blob"

    async def range(self, c, rng):
        b = self.pick_blob(rng)
        start = rng.randrange(b["size"])
        end = min(b["size"] - 1, start + rng.randrange(1 << 20))
        got = bytearray()
        status, h = await c.request("GET", self.repo_path(f"blobs/{b['digest']}"),
                                    {"Authorization": self.auth, "Range": f"bytes={start}-{end}"}, got.extend)
        if status != 206:
            raise Wrong(f"range {start}-{end} of {b['size']}: status {status}")
        if h.get("content-range") != f"bytes {start}-{end}/{b['size']}":
            raise Wrong(f"range {start}-{end}: Content-Range {h.get('content-range')}")
        if bytes(got) != self.expected(b, start, end):
            raise Wrong(f"range {start}-{end} of {b['digest'][:19]}: {len(got)} bytes, not the blob's")
        self.stats.bytes += len(got)
        return "range"

    async def head(self, c, rng):
        b = self.pick_blob(rng)
        status, h = await c.request("HEAD", self.repo_path(f"blobs/{b['digest']}"), {"Authorization": self.auth})
        if status != 200 or h.get("content-length") != str(b["size"]) or h.get("docker-content-digest") != b["digest"]:
            raise Wrong(f"HEAD {b['digest'][:19]}: {status} length {h.get('content-length')} digest {h.get('docker-content-digest')}")
        return "head"

    async def manifest_get(self, c, rng):
        ref = self.manifest["tag"] if rng.random() < 0.5 else self.manifest["digest"]
        got = bytearray()
        status, h = await c.request("GET", self.repo_path(f"manifests/{ref}"),
                                    {"Authorization": self.auth, "Accept": self.manifest["mediaType"]}, got.extend)
        digest = "sha256:" + hashlib.sha256(got).hexdigest()
        if status != 200 or digest != self.manifest["digest"]:
            raise Wrong(f"manifest {ref}: status {status}, body digest {digest[:19]}")
        return "manifest"

    async def bad(self, c, rng):
        """A request that must be refused with a 4xx (or the connection closed)."""
        b = self.pick_blob(rng)
        kind = rng.choice(["malformed-digest", "unknown-blob", "wrong-password", "no-credentials",
                           "unsatisfiable-range", "not-http", "huge-header", "bad-repository"])
        try:
            if kind == "not-http":
                await c.open()
                c.writer.write(b"\x16\x03\x01 hello there\r\n\r\n")
                await c.writer.drain()
                status, _ = await c.head()
                c.close()
            elif kind == "huge-header":
                status, _ = await c.request("GET", self.repo_path(f"blobs/{b['digest']}"),
                                            {"Authorization": self.auth, "X-Padding": "a" * (1 << 20)})
            else:
                path, headers = self.repo_path(f"blobs/{b['digest']}"), {"Authorization": self.auth}
                if kind == "malformed-digest":
                    path = self.repo_path("blobs/sha256:" + "z" * 64)
                elif kind == "unknown-blob":
                    path = self.repo_path("blobs/sha256:" + hashlib.sha256(os.urandom(8)).hexdigest())
                elif kind == "wrong-password":
                    headers["Authorization"] = self.bad_auth
                elif kind == "no-credentials":
                    del headers["Authorization"]
                elif kind == "unsatisfiable-range":
                    headers["Range"] = f"bytes={b['size'] + 10}-{b['size'] + 20}"
                elif kind == "bad-repository":
                    path = f"/v2/Not..A..Repo/blobs/{b['digest']}"
                status, _ = await c.request("GET", path, headers)
        except ConnectionError:
            c.close()
            if kind in ("not-http", "huge-header"):
                return "bad"  # hanging up on garbage is a fine answer
            raise
        if not 400 <= status < 500:
            raise Wrong(f"bad request ({kind}): status {status}")
        if kind in ("not-http", "huge-header"):
            c.close()
        return "bad"

    async def stalled(self, c, rng):
        """Reads a little of a big blob, stops reading for seconds, then hangs up."""
        b = max(self.blobs, key=lambda x: x["size"]) if rng.random() < 0.5 else self.pick_blob(rng)
        await c.send("GET", self.repo_path(f"blobs/{b['digest']}"), {"Authorization": self.auth})
        status, h = await c.head()
        if status != 200:
            raise Wrong(f"stalled reader: status {status}")
        await c.body(h, lambda chunk: None, limit=64 << 10)
        await asyncio.sleep(min(rng.uniform(5, 15), max(0, self.deadline - time.monotonic())))
        c.close()
        return "stalled"

    async def idle(self, c, rng):
        """A connection that never sends a request: the agent must close it after its idle
        timeout (or the run ends first)."""
        c.close()
        await c.open()
        left = self.deadline - time.monotonic()
        wait = self.a.idle_timeout + 5
        try:
            data = await asyncio.wait_for(c.reader.read(1), timeout=min(wait, max(0.0, left)))
            if data:
                raise Wrong(f"idle connection got bytes it never asked for: {data!r}")
        except asyncio.TimeoutError:
            if left >= wait:
                raise Wrong(f"an idle connection was still open after {wait} s (idle timeout {self.a.idle_timeout} s)")
        finally:
            c.close()
        return "idle"

    async def client(self, index):
        rng = random.Random(self.a.seed * 1000 + index)
        kinds = [(self.blob, 40), (self.range, 15), (self.head, 12), (self.manifest_get, 8),
                 (self.bad, 15), (self.stalled, 5), (self.idle, 5)]
        funcs = [k for k, w in kinds for _ in range(w)]
        c = Connection(self.host, self.port)
        while time.monotonic() < self.deadline:
            f = rng.choice(funcs)
            t0 = time.monotonic()
            try:
                kind = await asyncio.wait_for(f(c, rng), timeout=self.a.request_timeout)
                self.stats.ok(kind, time.monotonic() - t0)
            except Wrong as e:
                self.stats.bad(f.__name__, str(e))
                c.close()
            except asyncio.TimeoutError:
                self.stats.bad(f.__name__, f"no answer within {self.a.request_timeout} s")
                c.close()
            except (ConnectionError, asyncio.IncompleteReadError, OSError) as e:
                # A connection the agent closed (idle timeout) or reset: counted; a request on
                # it is retried on a new connection by the next round.
                self.stats.error(f.__name__)
                c.close()
        c.close()

    async def monitor(self):
        pid = self.a.pid
        t0 = time.monotonic()
        while time.monotonic() < self.deadline + 1:
            try:
                with open(f"/proc/{pid}/status") as f:
                    rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))
                self.stats.rss.append((round(time.monotonic() - t0, 1), round(rss / 1024, 1)))
                self.stats.fds.append((round(time.monotonic() - t0, 1), len(os.listdir(f"/proc/{pid}/fd"))))
            except (FileNotFoundError, ProcessLookupError, StopIteration):
                self.stats.bad("agent", "the agent process is gone")
                return
            await asyncio.sleep(0.5)

    async def run(self):
        start = time.monotonic()
        await asyncio.gather(self.monitor(), *(self.client(i) for i in range(self.a.clients)))
        elapsed = time.monotonic() - start
        s = self.stats
        answered = sum(s.counts.values())
        timed = [v for k, vs in s.latencies.items() if k not in ("stalled", "idle") for v in vs]
        return {
            "clients": self.a.clients,
            "seconds": round(elapsed, 1),
            "requests": answered,
            "requests_per_second": round(answered / elapsed, 1),
            "p50_ms": round(1000 * percentile(timed, 50), 1) if timed else None,
            "p99_ms": round(1000 * percentile(timed, 99), 1) if timed else None,
            "per_kind": {k: {"count": s.counts[k], "p99_ms": round(1000 * percentile(v, 99), 1)}
                         for k, v in sorted(s.latencies.items())},
            "connection_errors": s.errors,
            "wrong": s.wrong_count,
            "wrong_examples": s.wrong,
            "mib_checked": round(s.bytes / 1048576, 1),
            "rss_mib_max_sampled": max((r for _, r in s.rss), default=None),
            "fds_max": max((n for _, n in s.fds), default=None),
        }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--agent", required=True, help="host:port of the agent")
    p.add_argument("--pid", type=int, required=True, help="the agent's PID (RSS and descriptors)")
    p.add_argument("--repository", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--blobs", required=True, help="JSON: [{digest, size, path}] and the manifest")
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--duration", type=float, default=180)
    p.add_argument("--request-timeout", type=float, default=60)
    p.add_argument("--idle-timeout", type=float, default=60, help="the agent's idleTimeoutSeconds")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    with open(a.blobs) as f:
        image = json.load(f)
    load = Load(a, image["blobs"], image["manifest"])
    result = asyncio.run(load.run())
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: v for k, v in result.items() if k != "wrong_examples"}, indent=1))
    for w in result["wrong_examples"]:
        print("WRONG:", w)


if __name__ == "__main__":
    main()
