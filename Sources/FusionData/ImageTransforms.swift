import Foundation
import FusionTensor

/// Deterministic image transforms on `[C, H, W]` tensors.
public enum ImageTransforms {
    /// How `resize` samples.
    public enum ResizeMethod: String, Codable, Sendable {
        /// Bilinear interpolation with half-pixel centres (PyTorch's `align_corners=False`).
        case bilinear
        /// Box average over each output pixel's footprint, weighting partially covered input
        /// pixels by their overlap (OpenCV's INTER_AREA; the right choice for shrinking).
        case area
        /// `area` when both sides shrink, `bilinear` otherwise.
        case auto
    }

    /// `image` resized to `height × width`.
    public static func resize(_ image: Tensor, height: Int, width: Int, method: ResizeMethod = .auto) -> Tensor {
        precondition(image.rank == 3, "resize: expected [C, H, W], got \(image.shape)")
        precondition(height > 0 && width > 0, "resize: expected a positive size, got \(height)×\(width)")
        let (c, h, w) = (image.shape[0], image.shape[1], image.shape[2])
        if h == height && w == width { return image.copy() }
        let useArea = method == .area || (method == .auto && height <= h && width <= w)
        let out = Tensor(uninitializedShape: [c, height, width])
        if useArea {
            let rows = areaWeights(input: h, output: height), cols = areaWeights(input: w, output: width)
            for ch in 0..<c {
                let src = image.data + ch * h * w, dst = out.data + ch * height * width
                for oy in 0..<height {
                    for ox in 0..<width {
                        var acc: Float = 0
                        for (iy, wy) in rows[oy] {
                            var rowAcc: Float = 0
                            for (ix, wx) in cols[ox] { rowAcc += wx * src[iy * w + ix] }
                            acc += wy * rowAcc
                        }
                        dst[oy * width + ox] = acc
                    }
                }
            }
        } else {
            let sy = Float(h) / Float(height), sx = Float(w) / Float(width)
            for ch in 0..<c {
                let src = image.data + ch * h * w, dst = out.data + ch * height * width
                for oy in 0..<height {
                    let fy = max(0, (Float(oy) + 0.5) * sy - 0.5)
                    let y0 = min(Int(fy), h - 1), y1 = min(y0 + 1, h - 1), dy = fy - Float(y0)
                    for ox in 0..<width {
                        let fx = max(0, (Float(ox) + 0.5) * sx - 0.5)
                        let x0 = min(Int(fx), w - 1), x1 = min(x0 + 1, w - 1), dx = fx - Float(x0)
                        let top = src[y0 * w + x0] * (1 - dx) + src[y0 * w + x1] * dx
                        let bottom = src[y1 * w + x0] * (1 - dx) + src[y1 * w + x1] * dx
                        dst[oy * width + ox] = top * (1 - dy) + bottom * dy
                    }
                }
            }
        }
        return out
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

    /// The central `height × width` region (offsets rounded down, as torchvision's CenterCrop
    /// rounds half-way); a crop larger than the image pads it with zeros.
    public static func centerCrop(_ image: Tensor, height: Int, width: Int) -> Tensor {
        let (h, w) = (image.shape[1], image.shape[2])
        return crop(image, top: Int(((Double(h) - Double(height)) / 2).rounded()), left: Int(((Double(w) - Double(width)) / 2).rounded()),
                    height: height, width: width)
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
