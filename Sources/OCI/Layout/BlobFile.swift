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

/// Filesystem helpers shared by the layout and the agent's blob cache.
package enum FileSystem {
    package static func makeDirectories(_ path: String) throws(LayoutError) {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw LayoutError.io(path: current, operation: "mkdir", errno: errno)
            }
        }
    }

    package static func rename(_ from: String, _ to: String) throws(LayoutError) {
        guard Glibc.rename(from, to) == 0 else { throw LayoutError.io(path: to, operation: "rename", errno: errno) }
    }

    /// Writes all of `raw` at the descriptor's position, retrying short writes and EINTR;
    /// the errno of a failure, else nil.
    package static func writeAll(_ fd: Int32, _ raw: UnsafeRawBufferPointer) -> Int32? {
        var offset = 0
        while offset < raw.count {
            let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += n
        }
        return nil
    }

    package static func remove(_ path: String) { unlink(path) }

    package static func removeDirectoryIfEmpty(_ path: String) { rmdir(path) }

    /// Size of a regular file, or nil when there is none.
    package static func fileSize(_ path: String) -> Int64? {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int64(st.st_size)
    }

    package static func readFile(_ path: String, limit: Int = 16 << 20) throws(LayoutError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw LayoutError.io(path: path, operation: "open", errno: errno)
        }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw LayoutError.io(path: path, operation: "read", errno: errno)
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[..<n])
            if out.count > limit { throw LayoutError.invalid(path: path, reason: "larger than \(limit) bytes") }
        }
        return out
    }

    /// Writes `bytes` to `path` atomically (temporary file, fsync, rename).
    package static func writeAtomically(_ bytes: [UInt8], to path: String) throws(LayoutError) {
        let tmp = path + ".tmp-\(UInt32.random(in: 0...UInt32.max))"
        do throws(LayoutError) {
            let file = try BlobFile(creating: tmp)
            try file.write(bytes)
            try file.sync()
            file.close()
            try rename(tmp, path)
        } catch {
            remove(tmp)
            throw error
        }
    }
}

public enum LayoutError: Error, Sendable, CustomStringConvertible {
    case io(path: String, operation: String, errno: Int32)
    case invalid(path: String, reason: String)

    public var description: String {
        switch self {
        case .io(let path, let op, let e):
            let reason = String(cString: strerror(e))
            let hint = e == ENOSPC ? "; free disk space" : (e == EACCES || e == EPERM ? "; check permissions" : "")
            return "cannot \(op) \(path): \(reason)\(hint)"
        case .invalid(let path, let reason):
            return "\(path) is not a valid OCI image layout: \(reason)"
        }
    }
}
