import Foundation
import FusionData
import FusionTensor
import XCTest

/// The robustness protocol's corruptions do what they say, at the strength they say, seeded.
final class CorruptionTests: XCTestCase {
    func testAudioNoiseHasTheStatedSNR() {
        var rng = SeededGenerator(seed: 1)
        let clip = (0..<80_000).map { Float(0.3 * sin(Double($0) * 0.05)) }
        XCTAssertEqual(Corruption.audio(clip, level: 0, using: &rng), clip)
        for level in [0.2, 0.6, 1.0] {
            let noisy = Corruption.audio(clip, level: level, using: &rng)
            let signal = clip.reduce(0.0) { $0 + Double($1 * $1) }
            let noise = zip(noisy, clip).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
            XCTAssertEqual(10 * log10(signal / noise), Corruption.snr(level: level), accuracy: 0.1, "level \(level)")
        }
        XCTAssertEqual(Corruption.snr(level: 1), -5)
    }

    func testTextDropsAndSwapsAtTheLevelAndRepads() {
        var rng = SeededGenerator(seed: 2)
        let ids: [Int32] = [5, 6, 7, 8, 9, 10, 0, 0], mask: [Int32] = [1, 1, 1, 1, 1, 1, 0, 0]
        let same = Corruption.text(ids: ids, mask: mask, level: 0, using: &rng)
        XCTAssertEqual(same.ids, ids)
        XCTAssertEqual(same.mask, mask)
        var kept = 0, trials = 2000
        for _ in 0..<trials {
            let out = Corruption.text(ids: ids, mask: mask, level: 1, using: &rng)
            XCTAssertEqual(out.ids.count, 8)
            let n = out.mask.reduce(0) { $0 + Int($1) }
            XCTAssertTrue(out.ids[n...].allSatisfy { $0 == 0 } && out.mask[..<n].allSatisfy { $0 == 1 })
            XCTAssertTrue(Set(out.ids[..<n]).isSubset(of: Set(ids[..<6])))
            kept += n
        }
        XCTAssertEqual(Double(kept) / Double(trials * 6), 0.5, accuracy: 0.03, "level 1 drops half the tokens")
    }

    func testImageNoiseAndOcclusionInPixelUnits() {
        var rng = SeededGenerator(seed: 3)
        let (c, h, w) = (1, 20, 20)
        var x = [Float](repeating: 0.5, count: c * h * w)  // normalised with mean 0.5, std 0.25: pixel 0.625
        let clean = x
        x.withUnsafeMutableBufferPointer { Corruption.image($0.baseAddress!, channels: c, height: h, width: w, mean: [0.5], std: [0.25], level: 0, using: &rng) }
        XCTAssertEqual(x, clean)
        x.withUnsafeMutableBufferPointer { Corruption.image($0.baseAddress!, channels: c, height: h, width: w, mean: [0.5], std: [0.25], level: 1, using: &rng) }
        let black: Float = (0 - 0.5) / 0.25
        let occluded = x.filter { $0 == black }.count
        XCTAssertEqual(occluded, 196, "a 14×14 square: level/2 of 400 pixels, rounded to a square")
        let noise = zip(x, clean).filter { $0.0 != black }.map { Double(($0.0 - $0.1) * 0.25) }
        let sd = (noise.reduce(0) { $0 + $1 * $1 } / Double(noise.count)).squareRoot()
        XCTAssertEqual(sd, 0.5, accuracy: 0.06, "σ = 0.5 pixel units at level 1")
    }
}
