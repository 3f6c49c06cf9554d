import FusionCore

/// The per-sample input shapes of a model's encoders, decided by preprocessing and data.
public struct ModelInputs: Equatable, Sendable {
    /// Image `[channels, height, width]`.
    public var image: [Int]
    /// Audio MFCCs `[coefficients, frames]`.
    public var audio: [Int]
    /// Tokens per text.
    public var textLength: Int
    /// Token ids (vocabulary size; 0 is padding).
    public var vocabulary: Int

    /// Input shapes.
    public init(image: [Int] = [1, 32, 32], audio: [Int] = [13, 32], textLength: Int = 16, vocabulary: Int = 5000) {
        self.image = image; self.audio = audio; self.textLength = textLength; self.vocabulary = vocabulary
    }

    /// The stack input of `modality`.
    public func shape(of modality: Modality) -> StackShape {
        switch modality {
        case .image: return StackShape(.image, image)
        case .audio: return StackShape(.channels, audio)
        case .text: return StackShape(.tokens, [textLength])
        }
    }
}

extension ModelConfig {
    /// The preset names per modality.
    public static let presets: [Modality: [String]] = [
        .image: ImagePreset.spellings, .audio: AudioPreset.spellings, .text: TextPreset.spellings,
    ]

    /// The layers of `modality`'s encoder: written out in the file, or its preset's. Nil for a
    /// pretrained text encoder, which is not a stack.
    public func layerSpecs(for modality: Modality) throws -> [LayerSpec]? {
        func L(_ type: LayerKind, _ set: (inout LayerSpec) -> Void = { _ in }) -> LayerSpec {
            var spec = LayerSpec(type)
            set(&spec)
            return spec
        }
        switch modality {
        case .image:
            let c = image
            guard c.layers.isEmpty else { return c.layers }
            switch c.preset {
            case .cnn, .cnnGap:
                var specs: [LayerSpec] = []
                for (i, out) in c.channels.enumerated() {
                    let k = i < c.kernels.count ? c.kernels[i] : 3, s = i < c.strides.count ? c.strides[i] : 1
                    specs.append(L(.conv2d) { $0.channels = out; $0.kernel = [k]; $0.stride = [s]; $0.padding = [k / 2]; $0.bias = c.batchNorm ? false : nil })
                    if c.batchNorm { specs.append(L(.batchNorm)) }
                    specs.append(L(.relu))
                    if c.residual {
                        var block = [L(.conv2d) { $0.channels = out; $0.kernel = [3]; $0.padding = [1]; $0.bias = c.batchNorm ? false : nil }]
                        if c.batchNorm { block.append(L(.batchNorm)) }
                        block.append(L(.relu))
                        block.append(L(.conv2d) { $0.channels = out; $0.kernel = [3]; $0.padding = [1]; $0.bias = c.batchNorm ? false : nil })
                        if c.batchNorm { block.append(L(.batchNorm)) }
                        specs.append(L(.residual) { $0.layers = block })
                        specs.append(L(.relu))
                    }
                    switch c.pooling {
                    case .none: break
                    case .avg: specs.append(L(.avgPool2d) { $0.kernel = [2] })
                    case .max: specs.append(L(.maxPool2d) { $0.kernel = [2] })
                    }
                }
                specs.append(c.preset == .cnn ? L(.flatten) : L(.globalPool))
                specs.append(L(.linear) { $0.units = c.dim })
                specs.append(L(.relu))
                return specs
            case .lenet:
                return [L(.conv2d) { $0.channels = 6; $0.kernel = [5]; $0.padding = [2] }, L(.relu), L(.maxPool2d) { $0.kernel = [2] },
                        L(.conv2d) { $0.channels = 16; $0.kernel = [5] }, L(.relu), L(.maxPool2d) { $0.kernel = [2] },
                        L(.flatten), L(.linear) { $0.units = 120 }, L(.relu), L(.linear) { $0.units = c.dim }, L(.relu)]
            case .efficientnetLite0, .efficientnetLite1, .efficientnetLite2:
                return EfficientNetLite.layers(c.preset, L)
            }
        case .audio:
            let c = audio
            guard c.layers.isEmpty else { return c.layers }
            switch c.preset {
            case .cnn2d, .cnn2dMean:
                var specs: [LayerSpec] = []
                for out in c.channels {
                    specs += [L(.conv2d) { $0.channels = out; $0.kernel = [3]; $0.padding = [1] }, L(.relu), L(.maxPool2d) { $0.kernel = [2] }]
                }
                specs.append(c.preset == .cnn2d ? L(.flatten) : L(.globalPool))
                return specs + [L(.linear) { $0.units = c.dim }, L(.relu)]
            case .cnn1dMean:
                var specs: [LayerSpec] = []
                for out in c.channels {
                    specs += [L(.conv1d) { $0.channels = out; $0.kernel = [5]; $0.padding = [2] }, L(.relu), L(.maxPool1d) { $0.kernel = [2] }]
                }
                return specs + [L(.globalPool), L(.linear) { $0.units = c.dim }, L(.relu)]
            case .bigru, .bilstm:
                return [L(c.preset == .bigru ? .gru : .lstm) { $0.hidden = c.dim; $0.bidirectional = true }]
            case .speechEmbedding:
                return SpeechEmbedding.layers(L)
            case .soundEmbedding:
                return SoundEmbedding.layers(L)
            }
        case .text:
            let c = text
            guard c.layers.isEmpty else { return c.layers }
            let pool: PoolOp = switch c.pooling { case .max: .max; case .mean: .avg }
            switch c.preset {
            case .embeddingBag:
                var specs = [L(.embedding) { $0.units = c.embeddingDim }, L(.globalPool) { $0.op = pool }]
                if c.embeddingDim != c.dim { specs += [L(.linear) { $0.units = c.dim }, L(.relu)] }
                return specs
            case .bagOfWords:
                return [L(.bagOfWords), L(.linear) { $0.units = c.dim }, L(.relu)]
            case .gru:
                return [L(.embedding) { $0.units = c.embeddingDim }, L(.gru) { $0.hidden = c.dim }]
            case .transformer:
                return [L(.embedding) { $0.units = c.dim }, L(.positional) { $0.encoding = .learned },
                        L(.transformer) { $0.heads = c.heads; $0.numLayers = c.numLayers; $0.normFirst = true; $0.activation = .gelu },
                        L(.layerNorm), L(.globalPool) { $0.op = pool }]
            case .pretrained: return nil
            }
        }
    }

    /// The resolved stack of `modality`'s encoder for `inputs` (nil for a pretrained text
    /// encoder); a misfit throws with the JSON path of the layer (`model.image.layers.3`, or
    /// `model.image.preset` for a preset's layer).
    public func plan(for modality: Modality, inputs: ModelInputs) throws -> LayerPlan? {
        guard let specs = try layerSpecs(for: modality) else { return nil }
        let written = switch modality { case .image: !image.layers.isEmpty; case .audio: !audio.layers.isEmpty; case .text: !text.layers.isEmpty }
        let path = "model.\(modality.rawValue)." + (written ? "layers" : "preset")
        do {
            return try LayerPlan(specs, input: inputs.shape(of: modality), path: path, vocabulary: inputs.vocabulary)
        } catch let error as LayerStackError where !written {
            let preset = switch modality { case .image: image.preset.rawValue; case .audio: audio.preset.rawValue; case .text: text.preset.rawValue }
            throw LayerStackError(path: path, message: "the \"\(preset)\" preset does not fit \(inputs.shape(of: modality)): \(error.message) "
                                  + "(layer \(error.path.split(separator: ".").last ?? ""))")
        }
    }
}

/// EfficientNet-Lite (Tan & Le 2019; the Lite variants drop squeeze-excite and swish for ReLU6
/// and keep the stem and head widths) as a layer stack whose keys match
/// `scripts/pretrained/convert.py`'s conversion of the ImageNet weights.
public enum EfficientNetLite {
    /// The input side the variant was trained at.
    public static func side(_ preset: ImagePreset) -> Int { variant(preset).side }

    /// Lite0, Lite1 and Lite2: width and depth multipliers, input side and dropout.
    static func variant(_ preset: ImagePreset) -> (width: Double, depth: Double, side: Int, dropout: Double) {
        switch preset {
        case .efficientnetLite1: return (1.0, 1.1, 240, 0.2)
        case .efficientnetLite2: return (1.1, 1.2, 260, 0.3)
        default: return (1.0, 1.0, 224, 0.2)
        }
    }

    /// The seven stages of the base network: repeats, kernel, stride, expansion, input and output channels.
    static let stages: [(repeats: Int, kernel: Int, stride: Int, expand: Int, input: Int, output: Int)] = [
        (1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
        (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320),
    ]

    /// TensorFlow's round_filters: channels × width to a multiple of 8, never 10 % below.
    static func roundFilters(_ channels: Int, width: Double) -> Int {
        guard width != 1 else { return channels }
        let scaled = Double(channels) * width
        var rounded = max(8, Int(scaled + 4) / 8 * 8)
        if Double(rounded) < 0.9 * scaled { rounded += 8 }
        return rounded
    }

    /// Every block: (input channels, expansion, kernel, stride, output channels). The first and
    /// last stages keep their repeats (Lite's fixed stem and head), the others grow with depth.
    static func blocks(width: Double, depth: Double) -> [(input: Int, expand: Int, kernel: Int, stride: Int, output: Int)] {
        var out: [(input: Int, expand: Int, kernel: Int, stride: Int, output: Int)] = []
        for (i, stage) in stages.enumerated() {
            let fixed = i == 0 || i == stages.count - 1
            let repeats = fixed ? stage.repeats : Int((depth * Double(stage.repeats)).rounded(.up))
            let input = i == 0 ? 32 : roundFilters(stage.input, width: width), output = roundFilters(stage.output, width: width)
            for r in 0..<repeats {
                out.append((r == 0 ? input : output, stage.expand, stage.kernel, r == 0 ? stage.stride : 1, output))
            }
        }
        return out
    }

    /// The stem, the blocks (a `residual` named `b<i>` where the block keeps its shape, else its
    /// layers named `b<i>_expand`, `b<i>_dw`, `b<i>_project` and their `_bn`), the 1280-wide
    /// head convolution, global average pooling and the reference's dropout. Convolutions have no
    /// bias, pad as TensorFlow's SAME, and every batch norm has eps 1e-3 and momentum 0.01.
    static func layers(_ preset: ImagePreset, _ L: (LayerKind, (inout LayerSpec) -> Void) -> LayerSpec) -> [LayerSpec] {
        let v = variant(preset)
        func conv(_ name: String, _ channels: Int, kernel: Int = 1, stride: Int = 1, groups: Int? = nil) -> LayerSpec {
            L(.conv2d) { $0.name = name; $0.channels = channels; $0.kernel = [kernel]; $0.stride = [stride]
                $0.samePadding = kernel > 1 || stride > 1; $0.groups = groups; $0.bias = false }
        }
        func norm(_ name: String) -> LayerSpec { L(.batchNorm) { $0.name = name; $0.eps = 1e-3; $0.momentum = 0.01 } }
        let relu6 = L(.relu6) { _ in }
        var specs = [conv("stem", 32, kernel: 3, stride: 2), norm("stem_bn"), relu6]
        for (i, block) in blocks(width: v.width, depth: v.depth).enumerated() {
            let skip = block.stride == 1 && block.output == block.input
            let prefix = skip ? "" : "b\(i)_", wide = block.input * block.expand
            var body: [LayerSpec] = []
            if block.expand != 1 { body += [conv(prefix + "expand", wide), norm(prefix + "expand_bn"), relu6] }
            body += [conv(prefix + "dw", wide, kernel: block.kernel, stride: block.stride, groups: wide), norm(prefix + "dw_bn"), relu6,
                     conv(prefix + "project", block.output), norm(prefix + "project_bn")]
            specs += skip ? [L(.residual) { $0.name = "b\(i)"; $0.layers = body }] : body
        }
        return specs + [conv("head", 1280), norm("head_bn"), relu6, L(.globalPool) { _ in }, L(.dropout) { $0.p = v.dropout }]
    }
}

/// Google's speech embedding (as openWakeWord 0.4.0 ships it in `embedding_model.onnx`) over the
/// whole clip: its input is `[32 mels, frames]`, read as a one-channel image of mels × frames.
/// The network convolves along mels (3×1, padded) and frames (1×3, unpadded) in turn, with leaky
/// ReLU (0.2) clamped at −0.4, and max-pools 8 frames to 1. Applied to a whole clip, it gives the
/// embedding of every 76-frame window 8 frames (80 ms) apart, as openWakeWord computes them one
/// by one; `global_pool` averages the windows that lie on real audio. Keys match
/// `scripts/pretrained/convert.py speech-embedding`.
enum SpeechEmbedding {
    static func layers(_ L: (LayerKind, (inout LayerSpec) -> Void) -> LayerSpec) -> [LayerSpec] {
        func conv(_ i: Int, _ channels: Int, alongMels: Bool, bias: Bool = true) -> LayerSpec {
            L(.conv2d) { $0.name = "conv\(i)"; $0.channels = channels; $0.kernel = alongMels ? [3, 1] : [1, 3]
                $0.padding = alongMels ? [1, 0] : [0]; $0.bias = bias ? nil : false }
        }
        let act = [L(.leakyRelu) { $0.slope = 0.2 }, L(.clamp) { $0.lower = -0.4 }]
        var specs = [L(.conv2d) { $0.name = "conv0"; $0.channels = 24; $0.kernel = [3]; $0.padding = [1, 0]; $0.bias = false },
                     L(.relu) { _ in }, L(.batchNorm) { $0.name = "bn0"; $0.eps = 1e-3; $0.momentum = 0.01 }] + act
        // (output channels, pooling after the stage: kernel over mels × frames)
        let stages: [(Int, [Int]?)] = [(24, [2, 2]), (48, nil), (48, [2, 1]), (72, nil), (72, [2, 2]), (96, nil), (96, [2, 1]), (96, nil), (96, [2, 2])]
        for (stage, (channels, pool)) in stages.enumerated() {
            specs += [conv(2 * stage + 1, channels, alongMels: true)] + act + [conv(2 * stage + 2, channels, alongMels: false)] + act
            if let pool { specs.append(L(.maxPool2d) { $0.kernel = pool; $0.stride = pool }) }
        }
        return specs + [conv(19, 96, alongMels: false, bias: false), L(.globalPool) { _ in }]
    }
}

/// aiSFX's sound-effects embedding (Ma & Lerch, "Representation Learning for the Automatic
/// Indexing of Sound Effects Libraries", ISMIR 2022; `aisfx` 0.1.2's `EmbeddingNet('max', 3, 1,
/// 64)`, the DCASE cross-task baseline's 9-layer CNN) over `[96 mels, 100 frames]`, read as a
/// one-channel image of mels × frames: four blocks of two 3×3 convolutions (no bias) with batch
/// norm and ReLU, 2×2 max pooling after the first three; then the mean over mels and the
/// maximum over every frame, padding included, as aiSFX zero-pads a clip shorter than its
/// 100-frame block. Its kernels run over (frames, mels); `scripts/pretrained/convert.py
/// sound-embedding` swaps their two axes, which leaves the network the same.
enum SoundEmbedding {
    static func layers(_ L: (LayerKind, (inout LayerSpec) -> Void) -> LayerSpec) -> [LayerSpec] {
        var specs: [LayerSpec] = []
        for (block, channels) in [64, 128, 256, 512].enumerated() {
            for conv in 1...2 {
                let name = "block\(block + 1)_conv\(conv)"
                specs += [L(.conv2d) { $0.name = name; $0.channels = channels; $0.kernel = [3]; $0.padding = [1]; $0.bias = false },
                          L(.batchNorm) { $0.name = "block\(block + 1)_bn\(conv)" }, L(.relu) { _ in }]
            }
            if block < 3 { specs.append(L(.maxPool2d) { $0.kernel = [2] }) }
        }
        return specs + [L(.globalPool) { $0.rows = .avg; $0.op = .max; $0.masked = false }]
    }
}
