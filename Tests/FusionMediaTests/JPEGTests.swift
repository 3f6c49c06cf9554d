import Foundation
import FusionData
import FusionTensor
import XCTest

/// JPEG decoding through libjpeg-turbo against Pillow's decoded pixels of the same files.
final class JPEGTests: XCTestCase {
    func testMatchesPillowPixels() throws {
        let golden = try TestSupport.goldenJSON("jpeg_pillow.json")
        XCTAssertEqual(golden.count, 4)
        for (name, value) in golden.sorted(by: { $0.key < $1.key }) {
            let entry = try XCTUnwrap(value as? [String: Any])
            let path = try TestSupport.golden(name)
            let (w, h) = (try XCTUnwrap(entry["width"] as? Int), try XCTUnwrap(entry["height"] as? Int))
            let rgb = try ImageDecoder.decode(path: path, options: ImageDecodeOptions(colorMode: .rgb))
            XCTAssertEqual(rgb.shape, [3, h, w], name)
            let expected = try XCTUnwrap(entry["rgb"] as? [Int])
            // The same library with the same settings (accurate DCT, fancy upsampling): identical bytes.
            XCTAssertEqual(rgb.scalars.map { Int(($0 * 255).rounded()) }, expected, name)
            let grey = try ImageDecoder.decode(path: path, options: ImageDecodeOptions(colorMode: .grey))
            let expectedGrey = try XCTUnwrap(entry["grey"] as? [Int])
            // Pillow's "L" rounds its fixed-point luma; ours is the float ITU-R 601 luma.
            let worst = zip(grey.scalars, expectedGrey).map { abs($0 * 255 - Float($1)) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, entry["mode"] as? String == "L" ? 0.001 : 0.51, name)
        }
    }

    func testCorruptTruncatedAndOtherFormatsGiveErrorsNamingTheFile() throws {
        let dir = try TestSupport.temporaryDirectory(self)
        let good = try Data(contentsOf: URL(fileURLWithPath: try TestSupport.golden("baseline_420.jpg")))
        var forgedSize = good
        // The SOF0 marker's height and width fields: 65000 × 65000 is refused before allocating.
        if let sof = good.indices.dropLast(9).first(where: { good[$0] == 0xFF && good[$0 + 1] == 0xC0 }) {
            forgedSize.replaceSubrange((sof + 5)..<(sof + 9), with: [0xFD, 0xE8, 0xFD, 0xE8])
        }
        let cases: [(String, Data, String)] = [
            ("truncated.jpg", good.prefix(good.count / 2), "invalid JPEG"),
            ("header-only.jpg", good.prefix(4), "invalid JPEG"),
            ("huge.jpg", forgedSize, "a decompression bomb"),
            ("picture.gif", Data("GIF89a\u{1}\0\u{1}\0".utf8), "GIF image"),
            ("picture.bmp", Data("BM\0\0\0\0".utf8), "BMP image"),
        ]
        for (name, bytes, message) in cases {
            let path = dir + "/" + name
            try bytes.write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try ImageDecoder.decode(path: path)) {
                XCTAssertTrue("\($0)".contains(path) && "\($0)".contains(message), "\($0)")
            }
        }
    }

    func testATruncatedFileClaimingAHugeImageFailsFast() throws {
        // Found by the jpeg fuzz harness: 336 bytes declaring 558 million pixels took > 10 s to
        // decode under AddressSanitizer. Past Pillow's decompression-bomb limit it is refused.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let data = try Data(contentsOf: root.appendingPathComponent("Fuzz/corpus/jpeg/regression-bomb-558mp"))
        let start = Date()
        XCTAssertThrowsError(try ImageDecoder.decode(data: data, name: "bomb.jpg")) { XCTAssertTrue("\($0)".contains("decompression bomb"), "\($0)") }
        XCTAssertLessThan(Date().timeIntervalSince(start), 0.3, "decoding it in full takes 1.5 s here, refusing it milliseconds")
    }

    func testPreprocessingReadsJPEGLikePNG() throws {
        let dir = try TestSupport.temporaryDirectory(self)
        let jpeg = try TestSupport.golden("digit_scan.jpg")
        let decoded = try ImageDecoder.decode(path: jpeg, options: ImageDecodeOptions(colorMode: .grey))
        // The same pixels written as a PNG decode to the same tensor.
        let samples = decoded.scalars.map { UInt16(($0 * 255).rounded()) }
        let png = try PNGEncoder.encode(PNGWriteRequest(width: decoded.shape[2], height: decoded.shape[1], colorType: .grey,
                                                        bitDepth: 8, samples: samples))
        try png.write(to: URL(fileURLWithPath: dir + "/digit.png"))
        var settings = ImagePreprocessing(height: 8, width: 8, colorMode: .grey)
        settings.resize = .bilinear
        let fromJPEG = try settings.load(path: jpeg), fromPNG = try settings.load(path: dir + "/digit.png")
        XCTAssertLessThan(TestSupport.maxAbsDiff(fromJPEG.scalars, fromPNG.scalars), 1.0 / 255)
    }
}
