import Foundation
import FusionTensor

/// Deterministic image transforms on `[C, H, W]` tensors.
public enum ImageTransforms {
    /// How `resize` samples. `bilinear`, `bicubic` and `box` are Pillow's filters
    /// (`Image.resize`), antialiased when shrinking (the filter widens with the scale), computed
    /// in floating point as Pillow does on mode "F" images and torchvision's `resize(antialias=True)`
    /// on tensors: torchvision's `Resize` default on PIL images is `bilinear`.
    public enum ResizeMethod: String, Codable, ConfigChoice {
        /// Pillow's BILINEAR: a triangle filter (support 1 pixel, times the scale when shrinking).
        case bilinear
        /// Pillow's BICUBIC: Keys' cubic with a = −0.5 (support 2 pixels, times the scale when shrinking).
        case bicubic
        /// Pillow's BOX: every input pixel whose centre falls in the output pixel's footprint, weighted equally.
        case box
        /// Box average weighting partially covered input pixels by their overlap (OpenCV's INTER_AREA).
        case area

        /// Pillow's filter support in input pixels at scale 1, and the filter.
        var filter: (support: Double, weight: (Double) -> Double)? {
            switch self {
            case .bilinear: return (1, { x in let a = abs(x); return a < 1 ? 1 - a : 0 })
            case .bicubic:
                return (2, { x in
                    let a = -0.5, t = abs(x)
                    if t < 1 { return ((a + 2) * t - (a + 3)) * t * t + 1 }
                    if t < 2 { return (((t - 5) * t + 8) * t - 4) * a }
                    return 0
                })
            case .box: return (0.5, { x in x > -0.5 && x <= 0.5 ? 1 : 0 })
            case .area: return nil
            }
        }
    }

    /// `image` resized to `height × width` (an image already that size is copied as it is).
    public static func resize(_ image: Tensor, height: Int, width: Int, method: ResizeMethod = .bilinear) -> Tensor {
        precondition(image.rank == 3, "resize: expected [C, H, W], got \(image.shape)")
        precondition(height > 0 && width > 0, "resize: expected a positive size, got \(height)×\(width)")
        let (c, h, w) = (image.shape[0], image.shape[1], image.shape[2])
        if h == height && w == width { return image.copy() }
        let rows: [[(Int, Double)]], cols: [[(Int, Double)]]
        if let filter = method.filter {
            rows = pillowWeights(input: h, output: height, support: filter.support, filter: filter.weight)
            cols = pillowWeights(input: w, output: width, support: filter.support, filter: filter.weight)
        } else {
            rows = areaWeights(input: h, output: height).map { $0.map { ($0.0, Double($0.1)) } }
            cols = areaWeights(input: w, output: width).map { $0.map { ($0.0, Double($0.1)) } }
        }
        // Separable, horizontal pass first (Pillow's order), in Double, stored as Float between passes.
        let wide = Tensor(uninitializedShape: [c, h, width])
        for ch in 0..<c {
            let src = image.data + ch * h * w, dst = wide.data + ch * h * width
            for y in 0..<h {
                for ox in 0..<width {
                    var acc = 0.0
                    for (ix, wx) in cols[ox] { acc += wx * Double(src[y * w + ix]) }
                    dst[y * width + ox] = Float(acc)
                }
            }
        }
        let out = Tensor(uninitializedShape: [c, height, width])
        for ch in 0..<c {
            let src = wide.data + ch * h * width, dst = out.data + ch * height * width
            for oy in 0..<height {
                for ox in 0..<width {
                    var acc = 0.0
                    for (iy, wy) in rows[oy] { acc += wy * Double(src[iy * width + ox]) }
                    dst[oy * width + ox] = Float(acc)
                }
            }
        }
        return withExtendedLifetime(wide) { out }
    }

    /// Pillow's `precompute_coeffs`: for each output index, the input indices under the filter
    /// centred on it (support widened by the scale when shrinking) and their normalised weights.
    private static func pillowWeights(input: Int, output: Int, support baseSupport: Double,
                                      filter: (Double) -> Double) -> [[(Int, Double)]] {
        let scale = Double(input) / Double(output)
        let filterScale = max(scale, 1)
        let support = baseSupport * filterScale, inverse = 1 / filterScale
        return (0..<output).map { o in
            let center = (Double(o) + 0.5) * scale
            let lo = max(Int(center - support + 0.5), 0), hi = min(Int(center + support + 0.5), input)
            var weights: [(Int, Double)] = []
            var total = 0.0
            for i in lo..<max(lo, hi) {
                let weight = filter((Double(i) - center + 0.5) * inverse)
                weights.append((i, weight))
                total += weight
            }
            return weights.map { ($0.0, total != 0 ? $0.1 / total : $0.1) }
        }
    }

    /// For each output index, the input indices it covers and their normalised weights.
    private static func areaWeights(input: Int, output: Int) -> [[(Int, Float)]] {
        let scale = Double(input) / Double(output)
        return (0..<output).map { o in
            let start = Double(o) * scale, end = Double(o + 1) * scale
            var weights = [(Int, Float)]()
            var i = Int(start.rounded(.down))
            while Double(i) < end && i < input {
                let overlap = min(end, Double(i + 1)) - max(start, Double(i))
                if overlap > 1e-12 { weights.append((i, Float(overlap / scale))) }
                i += 1
            }
            return weights
        }
    }

    /// The central `height × width` region, its offset `round((size − crop) / 2)` with Python's
    /// round-half-to-even, exactly as torchvision's `CenterCrop`; a crop larger than the image pads
    /// it with zeros.
    public static func centerCrop(_ image: Tensor, height: Int, width: Int) -> Tensor {
        let (h, w) = (image.shape[1], image.shape[2])
        func offset(_ size: Int, _ crop: Int) -> Int { Int(((Double(size) - Double(crop)) / 2).rounded(.toNearestOrEven)) }
        return crop(image, top: offset(h, height), left: offset(w, width), height: height, width: width)
    }

    /// The `height × width` region whose top-left corner is at (`top`, `left`); parts outside
    /// the image are zero.
    public static func crop(_ image: Tensor, top: Int, left: Int, height: Int, width: Int) -> Tensor {
        precondition(image.rank == 3, "crop: expected [C, H, W], got \(image.shape)")
        let (c, h, w) = (image.shape[0], image.shape[1], image.shape[2])
        let out = Tensor.zeros([c, height, width])
        for ch in 0..<c {
            for y in 0..<height {
                let iy = top + y
                guard iy >= 0 && iy < h else { continue }
                for x in 0..<width {
                    let ix = left + x
                    guard ix >= 0 && ix < w else { continue }
                    out.data[(ch * height + y) * width + x] = image.data[(ch * h + iy) * w + ix]
                }
            }
        }
        return out
    }

    /// `(x − mean[c]) / std[c]` per channel.
    public static func normalize(_ image: Tensor, mean: [Float], std: [Float]) -> Tensor {
        let c = image.shape[0], plane = image.count / max(c, 1)
        precondition(mean.count == c && std.count == c, "normalize: expected \(c) means and stds, got \(mean.count) and \(std.count)")
        let out = Tensor(uninitializedShape: image.shape)
        for ch in 0..<c {
            let inv = 1 / std[ch]
            for i in 0..<plane { out.data[ch * plane + i] = (image.data[ch * plane + i] - mean[ch]) * inv }
        }
        return out
    }

    /// The image mirrored left to right.
    public static func horizontalFlip(_ image: Tensor) -> Tensor {
        let (c, h, w) = (image.shape[0], image.shape[1], image.shape[2])
        let out = Tensor(uninitializedShape: image.shape)
        for row in 0..<(c * h) {
            for x in 0..<w { out.data[row * w + x] = image.data[row * w + (w - 1 - x)] }
        }
        return out
    }

    /// The image rotated by `degrees` (counter-clockwise) about its centre with bilinear
    /// sampling; uncovered pixels are `fill`.
    public static func rotate(_ image: Tensor, degrees: Float, fill: Float = 0) -> Tensor {
        let (c, h, w) = (image.shape[0], image.shape[1], image.shape[2])
        let out = Tensor(uninitializedShape: image.shape)
        let angle = degrees * .pi / 180, cosA = cos(angle), sinA = sin(angle)
        let cx = Float(w - 1) / 2, cy = Float(h - 1) / 2
        for y in 0..<h {
            for x in 0..<w {
                // Inverse mapping: where in the input does this output pixel come from?
                let dx = Float(x) - cx, dy = Float(y) - cy
                let sx = cosA * dx - sinA * dy + cx
                let sy = sinA * dx + cosA * dy + cy
                let x0 = Int(sx.rounded(.down)), y0 = Int(sy.rounded(.down))
                let fx = sx - Float(x0), fy = sy - Float(y0)
                for ch in 0..<c {
                    let src = image.data + ch * h * w
                    func at(_ yy: Int, _ xx: Int) -> Float { (yy >= 0 && yy < h && xx >= 0 && xx < w) ? src[yy * w + xx] : fill }
                    let v = (at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx) * (1 - fy)
                        + (at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx) * fy
                    out.data[(ch * h + y) * w + x] = v
                }
            }
        }
        return out
    }
}
