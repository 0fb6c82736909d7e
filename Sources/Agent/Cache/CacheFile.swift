#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix
import OCI

/// An open file of the cache. Reads and writes run on NIO's blocking-I/O thread pool:
/// a disk stall must never block one of Swift's cooperative threads, which on a 2-core
/// node would stall every request the agent serves.
///
/// The descriptor stays valid after the file is renamed or unlinked, which is what lets
/// a reader finish a blob that was committed or evicted while it was streaming.
final class CacheFile: Sendable {
    let path: String
    private let fd: Int32
    private static let pool = NIOThreadPool.singleton

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    /// Opens an existing file for reading.
    static func openForReading(_ path: String) throws(CacheError) -> CacheFile {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, operation: "open", errno: errno) }
        return CacheFile(path: path, fd: fd)
    }

    /// Creates a new file for writing; fails if it exists.
    static func create(_ path: String) throws(CacheError) -> CacheFile {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(path: path, operation: "create", errno: errno) }
        return CacheFile(path: path, fd: fd)
    }

    /// Reads exactly `count` bytes at `offset`.
    ///
    /// The bytes go into `spare`'s memory when nothing else holds it any more (a stream
    /// passes back the buffer it sent last, which the socket has usually released by then).
    /// A fresh 512 KiB buffer per read is mapped and zeroed by the kernel each time: a
    /// quarter of the CPU of serving a cached blob.
    func read(at offset: Int64, count: Int, reusing spare: inout ByteBuffer?) async throws -> ByteBuffer {
        let fd = self.fd, path = self.path
        // The spare is moved (not copied) into a box that alone owns it, so inside the
        // closure it is still uniquely referenced and `clear()` keeps its memory.
        let box = BufferBox(spare.take() ?? ByteBufferAllocator().buffer(capacity: count))
        try await Self.pool.runIfActive { () throws in
            box.buffer.clear(minimumCapacity: count)
            var total = 0
            while total < count {
                let n = box.buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count - total) { raw in
                    pread(fd, raw.baseAddress!, count - total, off_t(offset) + off_t(total))
                }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw CacheError.io(path: path, operation: "read", errno: errno)
                }
                guard n > 0 else { throw CacheError.readPastEnd(path: path, offset: offset + Int64(total)) }
                total += n
            }
        }
        return box.take()
    }

    /// Hands a buffer to the thread pool and back without a second reference to it.
    private final class BufferBox: @unchecked Sendable {
        var buffer: ByteBuffer
        init(_ buffer: consuming ByteBuffer) { self.buffer = buffer }
        func take() -> ByteBuffer {
            defer { buffer = ByteBuffer() }
            return buffer
        }
    }

    /// Writes all of `buffer` at the file's current end.
    func append(_ buffer: ByteBuffer) async throws {
        let fd = self.fd, path = self.path
        try await Self.pool.runIfActive { () throws in
            if let e = buffer.withUnsafeReadableBytes({ FileSystem.writeAll(fd, $0) }) {
                throw CacheError.io(path: path, operation: "write", errno: e)
            }
        }
    }

    /// Writes all of `buffer` at `offset` (pieces arrive out of order).
    func write(_ buffer: ByteBuffer, at offset: Int64) async throws {
        let fd = self.fd, path = self.path
        try await Self.pool.runIfActive { () throws in
            try buffer.withUnsafeReadableBytes { raw in
                var done = 0
                while done < raw.count {
                    let n = pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(offset) + off_t(done))
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw CacheError.io(path: path, operation: "write", errno: errno)
                    }
                    done += n
                }
            }
        }
    }

    /// A second descriptor of the same open file, for the caller to own and close (a
    /// piece sent to a peer with `sendfile`); nil when the process is out of descriptors.
    func duplicateDescriptor() -> Int32? {
        let d = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        return d >= 0 ? d : nil
    }

    /// Flushes to stable storage, so a blob renamed into the cache is never short after a crash.
    func sync() async throws {
        let fd = self.fd, path = self.path
        try await Self.pool.runIfActive { () throws in
            guard fsync(fd) == 0 else { throw CacheError.io(path: path, operation: "fsync", errno: errno) }
        }
    }

    deinit { close(fd) }
}

/// A failure of the cache's own disk; the request it hit falls back to the origin.
public enum CacheError: Error, Sendable, CustomStringConvertible {
    case io(path: String, operation: String, errno: Int32)
    case readPastEnd(path: String, offset: Int64)

    public var description: String {
        switch self {
        case .io(let path, let operation, let e):
            let hint = e == ENOSPC ? ": the cache disk is full; lower --cache-size or free space" : ""
            return "cache \(operation) \(path) failed: \(String(cString: strerror(e)))\(hint)"
        case .readPastEnd(let path, let offset):
            return "cache file \(path) ended early at offset \(offset); it was truncated outside the agent"
        }
    }

}
