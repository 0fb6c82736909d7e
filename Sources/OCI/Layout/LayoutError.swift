#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
