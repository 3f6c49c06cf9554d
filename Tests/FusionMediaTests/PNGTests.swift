import Foundation
import FusionData
import FusionTensor
import XCTest

/// PNG decode/encode on images the tests write themselves, every colour type and bit depth.
final class PNGTests: XCTestCase {
    /// Deterministic samples below 2^bits.
    private func samples(_ count: Int, bits: Int, seed: Int) -> [UInt16] {
        (0..<count).map { UInt16(truncatingIfNeeded: ($0 * 7919 + seed * 104_729 + ($0 * $0) % 977) % (1 << bits)) }
    }

    func testEveryColourTypeAndBitDepthRoundTrips() throws {
        let (w, h) = (13, 7)
        let combos: [(PNGWriteRequest.ColorType, [Int])] = [
            (.grey, [1, 2, 4, 8, 16]), (.rgb, [8, 16]), (.greyAlpha, [8, 16]), (.rgba, [8, 16]),
        ]
        for (type, depths) in combos {
            for bits in depths {
                for interlaced in [false, true] {
                    let c = type.channels
                    let raw = samples(w * h * c, bits: bits, seed: bits + c)
                    var request = PNGWriteRequest(width: w, height: h, colorType: type, bitDepth: bits, samples: raw)
                    request.interlaced = interlaced
                    let data = try PNGEncoder.encode(request)
                    let what = "\(type) \(bits)-bit interlaced=\(interlaced)"
                    let decoded = try PNGDecoder.decodeSamples(data: data, name: "mem")
                    XCTAssertEqual(decoded.interlaced, interlaced, what)
                    XCTAssertEqual(decoded.fileBitDepth, bits, what)
                    let maxIn = Float((1 << bits) - 1)
                    // The RGBA float view must reproduce every sample exactly.
                    let t = try PNGDecoder.decode(data: data, name: "mem", options: ImageDecodeOptions(colorMode: .rgba))
                    XCTAssertEqual(t.shape, [4, h, w], what)
                    let plane = w * h
                    var worst: Float = 0
                    for p in 0..<plane {
                        let grey = c <= 2
                        for k in 0..<3 {
                            let expected = Float(raw[p * c + (grey ? 0 : k)]) / maxIn
                            worst = max(worst, abs(t.data[k * plane + p] - expected))
                        }
                        let alpha = (c == 2 || c == 4) ? Float(raw[p * c + c - 1]) / maxIn : 1
                        worst = max(worst, abs(t.data[3 * plane + p] - alpha))
                    }
                    XCTAssertLessThan(worst, 1e-6, what)
                }
            }
        }
    }

    func testPaletteWithAndWithoutTransparency() throws {
        let palette: [(UInt8, UInt8, UInt8)] = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (10, 20, 30)]
        for bits in [1, 2, 4, 8] {
            let count = min(palette.count, 1 << bits)
            let indices = (0..<20).map { UInt16($0 % count) }
            var request = PNGWriteRequest(width: 5, height: 4, colorType: .palette, bitDepth: bits, samples: indices)
            request.palette = Array(palette.prefix(count))
            let opaque = try PNGDecoder.decodeSamples(data: try PNGEncoder.encode(request), name: "p")
            XCTAssertEqual(opaque.channels, 3)
            XCTAssertEqual(Array(opaque.samples.prefix(3)), [255, 0, 0])
            request.paletteAlpha = [0]
            let transparent = try PNGDecoder.decode(data: try PNGEncoder.encode(request), name: "p",
                                                    options: ImageDecodeOptions(colorMode: .rgb, alpha: .composite(background: [0, 0, 0])))
            XCTAssertEqual(transparent.data[0], 0, "index 0 is fully transparent over black")
            if count > 1 { XCTAssertEqual(transparent.data[1], 0); XCTAssertEqual(transparent.data[20 + 1], 1) }
        }
    }

    func testGreyAndRGBConversionsAndAlphaHandling() throws {
        // One RGBA pixel: (200, 100, 50) at alpha 128.
        let request = PNGWriteRequest(width: 1, height: 1, colorType: .rgba, bitDepth: 8, samples: [200, 100, 50, 128])
        let data = try PNGEncoder.encode(request)
        let dropped = try PNGDecoder.decode(data: data, name: "a", options: ImageDecodeOptions(colorMode: .rgb, alpha: .drop))
        XCTAssertEqual(dropped.scalars, [Float(200) / 255, Float(100) / 255, Float(50) / 255], accuracy: 1e-6)
        let white = try PNGDecoder.decode(data: data, name: "a", options: ImageDecodeOptions(colorMode: .rgb))
        let a = Float(128) / 255
        XCTAssertEqual(white.data[0], a * 200 / 255 + (1 - a), accuracy: 1e-6)
        let grey = try PNGDecoder.decode(data: data, name: "a", options: ImageDecodeOptions(colorMode: .grey, alpha: .drop))
        XCTAssertEqual(grey.shape, [1, 1, 1])
        // Pillow's convert("L"): luma rounded to 8 bits, (19595·200 + 38470·100 + 7471·50 + 2^15) >> 16 = 124.
        XCTAssertEqual(grey.data[0], Float(124) / 255, accuracy: 1e-7)
        // Grey with a tRNS colour: that grey value becomes transparent.
        var g = PNGWriteRequest(width: 2, height: 1, colorType: .grey, bitDepth: 8, samples: [7, 9])
        g.transparentColor = [7]
        let t = try PNGDecoder.decode(data: try PNGEncoder.encode(g), name: "g", options: ImageDecodeOptions(colorMode: .rgba))
        XCTAssertEqual(t.data[3 * 2 + 0], 0)
        XCTAssertEqual(t.data[3 * 2 + 1], 1)
    }

    func testTensorEncodeWriteAndDecode() throws {
        let dir = try TestSupport.temporaryDirectory(self)
        let image = Tensor((0..<(3 * 4 * 5)).map { Float($0 % 11) / 10 }, shape: [3, 4, 5])
        for bits in [8, 16] {
            let path = dir + "/img\(bits).png"
            try PNGEncoder.write(image, to: path, bitDepth: bits)
            let back = try PNGDecoder.decode(path: path, options: ImageDecodeOptions(colorMode: .rgb))
            XCTAssertEqual(back.shape, [3, 4, 5])
            XCTAssertLessThan(TestSupport.maxAbsDiff(back.scalars, image.scalars), bits == 8 ? 0.5 / 255 + 1e-6 : 1e-4)
        }
        let grey = Tensor([0, 0.5, 1, 0.25], shape: [1, 2, 2])
        try PNGEncoder.write(grey, to: dir + "/g.png")
        XCTAssertEqual(try PNGDecoder.decode(path: dir + "/g.png", options: ImageDecodeOptions(colorMode: .grey)).shape, [1, 2, 2])
        XCTAssertThrowsError(try PNGEncoder.encode(Tensor.zeros([2, 3, 3])))
    }

    func testOtherImageFormatsAreNamed() throws {
        let dir = try TestSupport.temporaryDirectory(self)
        let jpeg = Data([0xFF, 0xD8, 0xFF, 0xE0, 0, 16]) + Data("JFIF".utf8) + Data(repeating: 0, count: 32)
        try jpeg.write(to: URL(fileURLWithPath: dir + "/photo.png"))
        XCTAssertThrowsError(try PNGDecoder.decode(path: dir + "/photo.png")) { error in
            XCTAssertTrue("\(error)".contains("photo.png") && "\(error)".contains("is a JPEG"), "\(error)")
        }
    }

    func testCorruptFilesGiveErrorsNamingTheFile() throws {
        let dir = try TestSupport.temporaryDirectory(self)
        let good = try PNGEncoder.encode(PNGWriteRequest(width: 8, height: 8, colorType: .grey, bitDepth: 8, samples: samples(64, bits: 8, seed: 1)))
        var badCRC = good
        // The IDAT chunk follows the 8-byte signature and the 25-byte IHDR chunk; damage its data.
        badCRC[8 + 25 + 8 + 2] ^= 0xFF
        var badSignature = good
        badSignature[1] = 0x51
        let cases: [(String, Data)] = [
            ("empty.png", Data()), ("truncated.png", good.prefix(good.count / 2)), ("crc.png", badCRC),
            ("signature.png", badSignature), ("text.png", Data("not a png at all".utf8)),
            ("noiend.png", good.prefix(good.count - 12)),
        ]
        for (name, bytes) in cases {
            let path = dir + "/" + name
            try bytes.write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try PNGDecoder.decode(path: path), name) { error in
                XCTAssertTrue("\(error)".contains(path), "\(error)")
            }
        }
        XCTAssertThrowsError(try PNGDecoder.decode(path: dir + "/missing.png")) { error in
            XCTAssertTrue("\(error)".contains("missing.png"))
        }
    }

    /// PngSuite conformance, run by scripts/conformance/pngsuite.sh (skipped unless
    /// FUSIONLAB_PNGSUITE names the folder): every valid file decodes to Pillow's RGBA8 pixels,
    /// every x*.png gives an error.
    func testPngSuiteConformance() throws {
        guard let dir = ProcessInfo.processInfo.environment["FUSIONLAB_PNGSUITE"] else {
            throw XCTSkip("set FUSIONLAB_PNGSUITE to the PngSuite folder to run")
        }
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/manifest.json"))) as? [String: Any]
        let files = try XCTUnwrap(manifest?["files"] as? [[String: Any]])
        var passed = 0, failed = 0
        for entry in files {
            let name = try XCTUnwrap(entry["file"] as? String)
            let path = dir + "/" + name
            if entry["expected_error"] as? Bool == true {
                do {
                    _ = try PNGDecoder.decode(path: path)
                    failed += 1
                    XCTFail("\(name): expected an error, decoded fine")
                } catch {
                    passed += 1
                }
                continue
            }
            do {
                let decoded = try PNGDecoder.decodeSamples(data: FileIO.read(path), name: path, reduce16: true)
                let full = try PNGDecoder.decodeSamples(data: FileIO.read(path), name: path)
                let ok = decoded.width == entry["width"] as? Int && decoded.height == entry["height"] as? Int
                    && SHA256.hex(pillowRGBA8(decoded, full: full)) == entry["pillow_rgba8_sha256"] as? String
                // The float path must agree with the 8-bit path to within one 8-bit step.
                let t = try PNGDecoder.decode(path: path, options: ImageDecodeOptions(colorMode: .rgba))
                let rgba = decoded.rgba8(), plane = decoded.width * decoded.height
                var worst: Float = 0
                for p in 0..<plane { for k in 0..<4 { worst = max(worst, abs(t.data[k * plane + p] * 255 - Float(rgba[4 * p + k]))) } }
                if ok && worst < 1.0001 { passed += 1 } else { failed += 1; XCTFail("\(name): pixels differ from Pillow's (float path max diff \(worst))") }
            } catch {
                failed += 1
                XCTFail("\(name): \(error)")
            }
        }
        print("pngsuite: \(passed) passed, \(failed) failed")
    }
}

/// Our samples in the form Pillow 13's `convert("RGBA")` gives, including its two known
/// departures from the PNG specification (libpng follows the specification):
/// - 16-bit grey (mode "I;16") is clipped to 255 instead of scaled, and its tRNS compares
///   the raw 16-bit value;
/// - grey below 8 bits with tRNS: Pillow compares the tRNS value with the *expanded* 8-bit
///   sample, so (in PngSuite) no pixel becomes transparent.
func pillowRGBA8(_ reduced: DecodedPNG, full: DecodedPNG) -> [UInt8] {
    var rgba = reduced.rgba8()
    if full.colorType == 0 && full.fileBitDepth == 16 {
        // Pillow applies tRNS after clipping, so every pixel whose clipped value equals the
        // clipped tRNS value turns transparent. libpng made exactly the tRNS-valued pixels
        // transparent, which tells the tRNS value.
        let plane = full.width * full.height
        let transparent = full.channels == 2
            ? (0..<plane).first { full.samples[$0 * 2 + 1] == 0 }.map { min(Int(full.samples[$0 * 2]), 255) } : nil
        for p in 0..<plane {
            let v = min(Int(full.samples[p * full.channels]), 255)
            rgba[4 * p] = UInt8(v); rgba[4 * p + 1] = UInt8(v); rgba[4 * p + 2] = UInt8(v)
            rgba[4 * p + 3] = v == transparent ? 0 : 255
        }
    } else if full.colorType == 0 && full.fileBitDepth < 8 && full.channels == 2 {
        for p in 0..<(full.width * full.height) { rgba[4 * p + 3] = 255 }
    }
    return rgba
}

func XCTAssertEqual(_ a: [Float], _ b: [Float], accuracy: Float, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy, file: file, line: line) }
}
