import FusionMedia
import Dispatch
import Foundation
import FusionTensor

/// Preprocesses one split in parallel and writes its cache file atomically.
enum FeatureCacheBuilder {
    static func build(dataset: Dataset, split: Split, settings: PreprocessingSettings, textEncoder: TextEncoder?,
                      key: String, path: String, policy: BadSamplePolicy, threads: Int, previous: FeatureCache? = nil,
                      log: (String) -> Void) throws {
        let samples = dataset.samples(in: split)
        let n = samples.count
        let fingerprints = samples.map(FeatureCache.fingerprint)
        // Rows of unchanged samples come from the previous cache of the same settings.
        var reuse = [Int?](repeating: nil, count: n)
        if let previous, let old = previous.header.fingerprints, old.count == previous.count,
           previous.header.imageShape == settings.image?.shape, previous.header.audioShape == settings.audio?.shape,
           previous.header.textLength == settings.text?.maxLength {
            let rows = Dictionary(old.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
            for i in 0..<n { reuse[i] = rows[fingerprints[i]] }
        }
        let vocabulary = textEncoder.map { String(format: "%016llx", $0.vocabularyFingerprint) }
        let reuseText = previous?.header.vocabulary == vocabulary
        let reused = reuse.compactMap { $0 }.count
        if previous != nil {
            log("feature cache \(split.rawValue): \(reused) of \(n) samples unchanged and reused, \(n - reused) decoded"
                + (reuseText || settings.text == nil ? "" : " (captions encoded again: the vocabulary changed)"))
        }
        let imageRow = settings.image.map { shapeCount($0.shape) } ?? 0
        let audioRow = settings.audio.map { shapeCount($0.shape) } ?? 0
        let textRow = settings.text?.maxLength ?? 0
        if settings.text != nil && textEncoder == nil {
            throw FusionDataError(file: path, "text preprocessing needs a text encoder (vocabulary)")
        }
        var images = [Float](repeating: 0, count: n * imageRow)
        var audio = [Float](repeating: 0, count: n * audioRow)
        var text = [Int32](repeating: 0, count: n * 2 * textRow)
        var presence = [UInt8](repeating: 0, count: 3 * n)
        var validFrames = [Int32](repeating: 0, count: n)
        var errors = [FusionDataError?](repeating: nil, count: n)
        let chunks = max(1, min(threads, n))
        images.withUnsafeMutableBufferPointer { imageBuffer in
            audio.withUnsafeMutableBufferPointer { audioBuffer in
                text.withUnsafeMutableBufferPointer { textBuffer in
                    presence.withUnsafeMutableBufferPointer { presenceBuffer in
                        errors.withUnsafeMutableBufferPointer { errorBuffer in
                        validFrames.withUnsafeMutableBufferPointer { framesBuffer in
                            // Each sample's rows are written by one worker only; concurrentPerform waits for all.
                            nonisolated(unsafe) let img = imageBuffer.baseAddress, aud = audioBuffer.baseAddress
                            nonisolated(unsafe) let txt = textBuffer.baseAddress, pre = presenceBuffer.baseAddress
                            nonisolated(unsafe) let err = errorBuffer.baseAddress, valid = framesBuffer.baseAddress
                            let reuse = reuse
                            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                                let extractor = settings.audio.flatMap { try? MFCC($0.mfcc) }
                                for i in (n * c / chunks)..<(n * (c + 1) / chunks) {
                                    let sample = samples[i]
                                    if let j = reuse[i], let previous {
                                        if let img, imageRow > 0 { (img + i * imageRow).update(from: previous.image(j), count: imageRow) }
                                        if let aud, audioRow > 0 { (aud + i * audioRow).update(from: previous.audio(j), count: audioRow) }
                                        for (k, m) in Modality.allCases.enumerated() { pre?[3 * i + k] = previous.has(j, m) ? 1 : 0 }
                                        if let txt, textRow > 0 {
                                            if reuseText {
                                                (txt + i * 2 * textRow).update(from: previous.text(j), count: 2 * textRow)
                                            } else if let s = settings.text, let t = sample.text, let textEncoder {
                                                // Another vocabulary: the caption is encoded again (cheap); the media rows stay.
                                                let encoded = textEncoder.encode(t, maxLength: s.maxLength)
                                                for q in 0..<textRow {
                                                    txt[i * 2 * textRow + q] = encoded.ids[q]
                                                    txt[i * 2 * textRow + textRow + q] = encoded.attentionMask[q]
                                                }
                                            }
                                        }
                                        valid?[i] = Int32(previous.audioFrames(j))
                                        continue
                                    }
                                    do {
                                        if let s = settings.image, let p = sample.imagePath, let img {
                                            let t = try s.load(path: p)
                                            try withExtendedLifetime(t) {
                                                try requireFinite(t, file: p, what: "image")
                                                (img + i * imageRow).update(from: t.data, count: imageRow)
                                            }
                                            pre?[3 * i + 1] = 1
                                        }
                                        if let s = settings.audio, let p = sample.audioPath, let aud {
                                            guard let extractor else { throw FusionDataError(file: p, "invalid MFCC settings") }
                                            let (t, frames) = try s.load(path: p, extractor: extractor)
                                            try withExtendedLifetime(t) {
                                                try requireFinite(t, file: p, what: "MFCC")
                                                (aud + i * audioRow).update(from: t.data, count: audioRow)
                                            }
                                            valid?[i] = Int32(frames)
                                            pre?[3 * i + 2] = 1
                                        }
                                        if let s = settings.text, let t = sample.text, let textEncoder, let txt {
                                            let encoded = textEncoder.encode(t, maxLength: s.maxLength)
                                            for j in 0..<textRow {
                                                txt[i * 2 * textRow + j] = encoded.ids[j]
                                                txt[i * 2 * textRow + textRow + j] = encoded.attentionMask[j]
                                            }
                                            pre?[3 * i] = 1
                                        }
                                    } catch let error as FusionDataError {
                                        err?[i] = FusionDataError(file: error.file, line: error.line,
                                                                  "\(error.message) (sample \"\(sample.id)\", line \(sample.line))")
                                    } catch {
                                        err?[i] = FusionDataError(file: path, "sample \"\(sample.id)\": \(error)")
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        }
        var keep = [Int]()
        for i in 0..<n {
            if let error = errors[i] {
                if policy == .failFast { throw error }
                log("warning: skipped sample: \(error)")
            } else {
                keep.append(i)
            }
        }
        if keep.count < n { log("warning: skipped \(n - keep.count) sample(s) of split \(split.rawValue) that failed to decode") }
        let m = keep.count
        var header = FeatureCache.Header(version: FeatureCache.version, key: key, split: split, ids: keep.map { samples[$0].id },
                                         imageShape: settings.image?.shape, audioShape: settings.audio?.shape,
                                         textLength: settings.text?.maxLength, payloadBytes: 0, checksum: "",
                                         fingerprints: keep.map { fingerprints[$0] }, vocabulary: vocabulary)
        guard let layout = CacheLayout(header) else { throw FusionDataError(file: path, "the cache of \(m) samples would be too large") }
        header.payloadBytes = layout.total
        var payload = Data(count: layout.total)
        payload.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress else { return }
            for (j, i) in keep.enumerated() {
                base.storeBytes(of: Int32(samples[i].label), toByteOffset: 4 * j, as: Int32.self)
                if settings.audio != nil { base.storeBytes(of: validFrames[i], toByteOffset: layout.frames + 4 * j, as: Int32.self) }
                for k in 0..<3 { base.storeBytes(of: presence[3 * i + k], toByteOffset: layout.presence + 3 * j + k, as: UInt8.self) }
            }
            func copyRows<T>(_ source: [T], _ row: Int, at start: Int) {
                guard row > 0 else { return }
                var offset = start
                source.withUnsafeBytes { src in
                    guard let from = src.baseAddress else { return }
                    for i in keep {
                        (base + offset).copyMemory(from: from + i * row * MemoryLayout<T>.stride, byteCount: row * MemoryLayout<T>.stride)
                        offset += row * MemoryLayout<T>.stride
                    }
                }
            }
            copyRows(images, imageRow, at: layout.image)
            copyRows(audio, audioRow, at: layout.audio)
            copyRows(text, 2 * textRow, at: layout.text)
            header.checksum = String(format: "%016llx", Hash64.checksum(UnsafeRawBufferPointer(raw)))
        }
        let headerJSON = try JSONEncoder().encode(header)
        var headerBlock = headerJSON
        headerBlock.append(Data(count: (24 + headerJSON.count + 63) / 64 * 64 - 24 - headerJSON.count))
        let headerSum = headerBlock.withUnsafeBytes { Hash64.checksum($0) }
        var file = Data(FeatureCache.magic)
        withUnsafeBytes(of: UInt64(headerJSON.count).littleEndian) { file.append(contentsOf: $0) }
        withUnsafeBytes(of: headerSum.littleEndian) { file.append(contentsOf: $0) }
        file.append(headerBlock)
        file.append(payload)
        try FileIO.writeAtomically(file, to: path)
    }
}

/// A decoded feature that is not finite (a sample at 1e20 in a float WAV, say) is a bad sample:
/// it would turn every weight it reaches into NaN.
func requireFinite(_ t: Tensor, file: String, what: String) throws {
    for i in 0..<t.count where !t.data[i].isFinite {
        throw FusionDataError(file: file, "the \(what) features are not finite (value \(t.data[i]) at element \(i)); the file holds out-of-range samples")
    }
}
