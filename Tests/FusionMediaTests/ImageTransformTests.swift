import Foundation
import FusionData
import FusionTensor
import XCTest

/// Resize, crop, normalise and seeded augmentation.
final class ImageTransformTests: XCTestCase {
    func testResize() {
        let image = Tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], shape: [1, 4, 4])
        // Box and area downscales by 2 average 2×2 blocks.
        XCTAssertEqual(ImageTransforms.resize(image, height: 2, width: 2, method: .box).scalars, [2.5, 4.5, 10.5, 12.5])
        XCTAssertEqual(ImageTransforms.resize(image, height: 2, width: 2, method: .area).scalars, [2.5, 4.5, 10.5, 12.5])
        // Area with a non-integer factor keeps the mean.
        let odd = ImageTransforms.resize(image, height: 3, width: 3, method: .area)
        XCTAssertEqual(odd.scalars.reduce(0, +) / 9, 7.5, accuracy: 1e-5)
        // Bilinear upscale (half-pixel centres) of a 2×2 ramp, as torch's align_corners=False and Pillow.
        let small = Tensor([0, 1, 2, 3], shape: [1, 2, 2])
        let up = ImageTransforms.resize(small, height: 4, width: 4, method: .bilinear)
        XCTAssertEqual(Array(up.scalars.prefix(4)), [0, 0.25, 0.75, 1], accuracy: 1e-6)
    }

    /// Pillow's BILINEAR, BICUBIC and BOX on float images (scripts/golden/image_goldens.py).
    func testResizeMatchesPillow() throws {
        let golden = try TestSupport.goldenJSON("image_pillow.json")
        let cases = try XCTUnwrap(golden["resize"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 15)
        for c in cases {
            let from = try XCTUnwrap(c["from"] as? [Int]), to = try XCTUnwrap(c["to"] as? [Int])
            let method = try XCTUnwrap(ImageTransforms.ResizeMethod(rawValue: try XCTUnwrap(c["filter"] as? String)))
            let (h, w) = (from[0], from[1])
            var pixels: [Float] = []
            for y in 0..<h { for x in 0..<w { pixels.append(Float(Double((7 * x + 13 * y) % 17) / 16.0 + 0.01 * Double(x))) } }
            let out = ImageTransforms.resize(Tensor(pixels, shape: [1, h, w]), height: to[0], width: to[1], method: method)
            let expected = try XCTUnwrap(c["values"] as? [Double]).map(Float.init)
            let diff = TestSupport.maxAbsDiff(out.scalars, expected)
            XCTAssertLessThan(diff, 2e-6, "\(method) \(from) → \(to)")
        }
    }

    /// Colour PNGs decoded to grey give Pillow's 8-bit `convert("L")`, value for value.
    func testGreyConversionMatchesPillow() throws {
        let golden = try TestSupport.goldenJSON("image_pillow.json")
        let luma = try XCTUnwrap(golden["luma"] as? [Int])
        var values = [Float](repeating: 0, count: 3 * 4096)
        for i in 0..<4096 {
            values[i] = Float((37 * i) % 256) / 255
            values[4096 + i] = Float((91 * i + 7) % 256) / 255
            values[2 * 4096 + i] = Float((53 * i + 11) % 256) / 255
        }
        let path = try TestSupport.temporaryDirectory(self) + "/rgb.png"
        try PNGEncoder.write(Tensor(values, shape: [3, 64, 64]), to: path)
        let grey = try ImageDecoder.decode(path: path, options: ImageDecodeOptions(colorMode: .grey))
        XCTAssertEqual(grey.scalars.map { Int(($0 * 255).rounded()) }, luma)
    }

    func testCropNormalizeFlipRotate() {
        let image = Tensor((0..<16).map(Float.init), shape: [1, 4, 4])
        XCTAssertEqual(ImageTransforms.centerCrop(image, height: 2, width: 2).scalars, [5, 6, 9, 10])
        // Odd margins round half to even, as torchvision: (4 − 1) / 2 = 1.5 → 2; (4 − 3) / 2 = 0.5 → 0.
        XCTAssertEqual(ImageTransforms.centerCrop(image, height: 1, width: 3).scalars, [8, 9, 10])
        XCTAssertEqual(ImageTransforms.crop(image, top: -1, left: -1, height: 2, width: 2).scalars, [0, 0, 0, 0])
        XCTAssertEqual(ImageTransforms.normalize(Tensor([1, 3], shape: [1, 1, 2]), mean: [1], std: [2]).scalars, [0, 1])
        XCTAssertEqual(Array(ImageTransforms.horizontalFlip(image).scalars.prefix(4)), [3, 2, 1, 0])
        XCTAssertEqual(ImageTransforms.rotate(image, degrees: 0).scalars, image.scalars, accuracy: 1e-5)
        let quarter = ImageTransforms.rotate(image, degrees: 90)
        XCTAssertEqual(ImageTransforms.rotate(quarter, degrees: -90).scalars, image.scalars, accuracy: 1e-4)
    }

    func testAugmentationIsSeeded() {
        let image = Tensor((0..<(3 * 8 * 8)).map { Float($0 % 7) / 6 }, shape: [3, 8, 8])
        var aug = ImageAugmentation()
        (aug.cropPadding, aug.horizontalFlipProbability, aug.maxRotationDegrees) = (2, 0.5, 10)
        (aug.brightness, aug.contrast, aug.noiseStd) = (0.2, 0.2, 0.05)
        var a = SeededGenerator(seed: 3), b = SeededGenerator(seed: 3), c = SeededGenerator(seed: 4)
        let x = aug.apply(image, using: &a), y = aug.apply(image, using: &b), z = aug.apply(image, using: &c)
        XCTAssertEqual(x.shape, image.shape)
        XCTAssertEqual(x.scalars, y.scalars)
        XCTAssertNotEqual(x.scalars, z.scalars)
        XCTAssertTrue(x.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
        XCTAssertEqual(ImageAugmentation().apply(image, using: &a).scalars, image.scalars)
    }
}
