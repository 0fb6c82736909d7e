#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// A file being written with POSIX calls, so a buffer goes to disk without a copy
/// through `Data`.
package final class BlobFile {
    package let path: String
    private var fd: Int32

    /// Creates (or truncates) `path` with mode 0644.
    package init(creating path: String) throws(LayoutError) {
        self.path = path
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LayoutError.io(path: path, operation: "create", errno: errno) }
        self.fd = fd
    }

    package func write(_ buffer: ByteBuffer) throws(LayoutError) {
        try buffer.withUnsafeReadableBytes { raw in Result { () throws(LayoutError) in try write(raw) } }.get()
    }

    package func write(_ bytes: [UInt8]) throws(LayoutError) {
        try bytes.withUnsafeBytes { raw in Result { () throws(LayoutError) in try write(raw) } }.get()
    }

    package func write(_ raw: UnsafeRawBufferPointer) throws(LayoutError) {
        if let e = FileSystem.writeAll(fd, raw) { throw LayoutError.io(path: path, operation: "write", errno: e) }
    }

    package func truncate() throws(LayoutError) {
        guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else {
            throw LayoutError.io(path: path, operation: "truncate", errno: errno)
        }
    }

    /// Flushes to stable storage, so a rename after it never exposes a short file after a crash.
    package func sync() throws(LayoutError) {
        guard fsync(fd) == 0 else { throw LayoutError.io(path: path, operation: "fsync", errno: errno) }
    }

    package func close() {
        if fd >= 0 { _ = Glibc.close(fd) }
        fd = -1
    }

    deinit { close() }
}
