#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
