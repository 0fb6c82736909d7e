#if canImport(Glibc)
import Glibc
#endif

/// glibc's allocator tuned for the agent's transfer buffers.
public enum MallocTuning {
    /// Transfer buffers are 512 KiB. Above this threshold glibc maps them individually and
    /// returns them on free; without it, its dynamic threshold rises past them and freed
    /// buffers pile up in per-thread arenas (peak RSS 92 MiB vs 61-71 MiB for a 1 GiB
    /// pull). The streams reuse their buffers, so the mapping cost is paid rarely.
    /// An operator's own glibc tuning (`GLIBC_TUNABLES`) wins over this default.
    public static func forTransferBuffers() {
        #if canImport(Glibc)
        guard getenv("GLIBC_TUNABLES") == nil else { return }
        setMapThreshold(256 * 1024)
        #endif
    }

    /// glibc's `mallopt(M_MMAP_THRESHOLD, bytes)`; `<malloc.h>` is not in Swift's Glibc module.
    static func setMapThreshold(_ bytes: Int32) {
        #if canImport(Glibc)
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        let M_MMAP_THRESHOLD: Int32 = -3
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") {
            _ = unsafeBitCast(symbol, to: Mallopt.self)(M_MMAP_THRESHOLD, bytes)
        }
        #endif
    }
}
