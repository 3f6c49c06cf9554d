import Foundation

/// 64-bit hashing for cache keys and checksums (not cryptographic).
public enum Hash64 {
    /// FNV-1a over bytes, folded into `seed`.
    public static func fnv1a<S: Sequence>(_ bytes: S, seed: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 where S.Element == UInt8 {
        var h = seed
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    /// A fast checksum of a buffer, eight bytes at a time (tail bytes folded in by FNV-1a).
    public static func checksum(_ buffer: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(buffer.count)
        let words = buffer.count / 8
        if let base = buffer.baseAddress {
            for i in 0..<words {
                let w = base.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)
                h = (h ^ w) &* 0xff51_afd7_ed55_8ccd
                h ^= h >> 29
            }
        }
        return fnv1a(buffer[(words * 8)...], seed: h)
    }
}
