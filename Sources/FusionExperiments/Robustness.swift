import FusionConfig
import FusionDeploy
import FusionTraining
import Foundation
import FusionCore
import FusionData
import FusionModels
import FusionMPI
import FusionReports
import FusionTensor

/// `fusionlab robustness`: how a fused model degrades when one modality is noisy or absent,
/// following MultiBench (Liang et al., 2021). For each modality, `levels` noise levels from 0 to
/// 1 (`Corruption`), accuracy and macro F1 at each; the relative robustness (the area under the
/// accuracy-vs-noise curve); the effective robustness against the late-fusion baseline (the
/// gap between the curves once the baseline is shifted to the method's clean accuracy); and the
/// accuracy with every subset of modalities absent. The test split's decoded features are
/// reused; audio noise is added to the waveforms, read once, before MFCCs.
public enum Robustness {
    /// The protocol's settings.
    public struct Options: Sendable {
        /// Noise levels, evenly spaced from 0 to 1 (at least 2).
        public var levels = 11
        /// Seed of every corruption (levels and modalities get their own streams).
        public var seed: UInt64 = 0
        /// A late-fusion run to measure effective robustness against (a comparison folder's
        /// late-fusion run of the same seed is used when this is nil).
        public var baseline: String?
        /// The defaults: 11 levels, seed 0.
        public init() {}
    }

    /// Accuracy and macro F1 at one noise level.
    public struct Point: Codable, Sendable {
        /// The noise level in [0, 1].
        public var level: Double
        /// Test accuracy.
        public var accuracy: Double
        /// Test macro F1.
        public var f1Macro: Double
    }

    /// One modality's curve.
    public struct Curve: Codable, Sendable {
        /// The corrupted modality.
        public var modality: String
        /// The levels in order.
        public var points: [Point]
        /// The area under accuracy vs level (trapezoids over [0, 1]).
        public var relativeRobustness: Double
        /// Mean over levels of accuracy − (the baseline's accuracy + this clean accuracy − the
        /// baseline's clean accuracy); nil without a baseline.
        public var effectiveRobustness: Double?
    }

    /// Accuracy with some modalities absent.
    public struct Missing: Codable, Sendable {
        /// The absent modalities.
        public var absent: [String]
        /// Test accuracy.
        public var accuracy: Double
        /// Test macro F1.
        public var f1Macro: Double
    }

    /// One run's results.
    public struct RunResult: Codable, Sendable {
        /// The run folder.
        public var run: String
        /// The comparison variant (the run folder's parent) or the experiment name.
        public var variant: String
        /// The fusion strategy.
        public var fusion: String
        /// The run's seed.
        public var seed: UInt64
        /// Clean test accuracy.
        public var cleanAccuracy: Double
        /// One curve per modality.
        public var curves: [Curve]
        /// Every non-empty proper subset of modalities absent.
        public var missing: [Missing]
        /// Evaluation time.
        public var seconds: Double
    }

    /// Evaluates one finished run (no effective robustness yet: see `report`).
    public static func evaluate(run: String, options: Options, progress: FusionTraining.Progress) throws -> RunResult {
        guard options.levels >= 2 else { throw ExperimentError("robustness: --levels must be at least 2, got \(options.levels)") }
        let directory = try RunDirectory.open(run)
        guard directory.status == .finished else {
            throw ExperimentError("robustness: \(run) is \(directory.status.rawValue), not finished; only a finished run has a model to measure")
        }
        let start = Date()
        let (model, data, config) = try ExperimentRunner.load(run: run, progress: progress)
        let split: Split = (data.caches[.test]?.count ?? 0) > 0 ? .test : .val
        let batches = Array(try data.loader(split, training: false).epoch(0))
        guard !batches.isEmpty else { throw ExperimentError("robustness: \(run): the dataset has no \(split.rawValue) samples") }
        let mods = model.modalities
        let levels = (0..<options.levels).map { Double($0) / Double(options.levels - 1) }

        func score(_ batches: [MultimodalBatch]) -> (accuracy: Double, f1: Double) {
            var labels: [Int] = [], predictions: [Int] = []
            for b in batches {
                predictions += withNoGrad { model(b) }.argmax(axis: 1)
                labels += b.labels
            }
            let m = ClassificationMetrics.compute(labels: labels, predictions: predictions, probabilities: nil, classNames: data.classNames)
            return (m.accuracy, m.f1Macro)
        }
        let clean = score(batches)

        // Audio noise goes into the waveform: each test clip is read once.
        var waveforms: [String: [Float]] = [:]
        var extractor: MFCC?
        if mods.contains(.audio), let settings = data.settings.audio {
            extractor = try MFCC(settings.mfcc)
            let samples = Dictionary(data.dataset.samples(in: split).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            for b in batches {
                for id in b.ids {
                    guard let path = samples[id]?.audioPath else { continue }
                    do {
                        let clip = try AudioFile.read(path: path, sampleRate: settings.mfcc.sampleRate)
                        waveforms[id] = Array(clip.samples.prefix(settings.sampleCount))
                    } catch { throw ExperimentError("robustness: \(error)") }
                }
            }
        }

        var curves: [Curve] = []
        for (k, m) in mods.enumerated() {
            var points = [Point(level: 0, accuracy: clean.accuracy, f1Macro: clean.f1)]
            for (li, level) in levels.enumerated().dropFirst() {
                var rng = SeededGenerator(seed: options.seed &+ UInt64(k) &* 1_000_003 &+ UInt64(li) &* 7919)
                let noisy = try batches.map { try TrainingNoise.corrupt($0, m, levels: [Double](repeating: level, count: $0.size), data: data,
                                                          waveforms: waveforms, extractor: extractor, rng: &rng) }
                let s = score(noisy)
                points.append(Point(level: level, accuracy: s.accuracy, f1Macro: s.f1))
            }
            curves.append(Curve(modality: m.rawValue, points: points, relativeRobustness: area(points), effectiveRobustness: nil))
            progress.detail("robustness \(m.rawValue): " + points.map { String(format: "%.3f", $0.accuracy) }.joined(separator: " "))
        }

        var missing: [Missing] = []
        if mods.count > 1 {
            for subset in 1..<((1 << mods.count) - 1) {
                let absent = mods.enumerated().filter { subset & (1 << $0.offset) != 0 }.map(\.element)
                let removed = batches.map { b in absent.reduce(b) { $0.removing($1) } }
                let s = score(removed)
                missing.append(Missing(absent: absent.map(\.rawValue), accuracy: s.accuracy, f1Macro: s.f1))
            }
        }
        let folder = URL(fileURLWithPath: run).standardizedFileURL
        let parent = folder.deletingLastPathComponent().lastPathComponent
        let variant = parent == config.name ? config.name : parent
        return RunResult(run: run, variant: variant, fusion: config.model.modalities.count > 1 ? config.model.fusion.kind.rawValue : "unimodal",
                         seed: config.seed, cleanAccuracy: clean.accuracy, curves: curves, missing: missing,
                         seconds: Date().timeIntervalSince(start))
    }

    /// The area under a curve over [0, 1] (trapezoids).
    static func area(_ points: [Point]) -> Double {
        zip(points, points.dropFirst()).reduce(0) { $0 + ($1.1.level - $1.0.level) * ($1.0.accuracy + $1.1.accuracy) / 2 }
    }


    /// What `report` wrote.
    public struct Report: Sendable {
        /// The runs measured.
        public var results: [RunResult]
        /// robustness.csv and robustness.json.
        public var csv: String, json: String
        /// Runs whose effective robustness had no baseline.
        public var withoutBaseline: [String]
    }

    /// Measures a run folder, or every finished run of a comparison folder, and writes
    /// robustness.csv and robustness.json into that folder.
    public static func report(target: String, options: Options, progress: FusionTraining.Progress) throws -> Report {
        let fm = FileManager.default
        var runs: [String] = []
        if fm.fileExists(atPath: target + "/comparison.json") {
            let root = target + "/runs"
            for variant in ((try? fm.contentsOfDirectory(atPath: root)) ?? []).sorted() {
                for stamp in ((try? fm.contentsOfDirectory(atPath: "\(root)/\(variant)")) ?? []).sorted() {
                    let run = "\(root)/\(variant)/\(stamp)"
                    if (try? RunDirectory.open(run))?.status == .finished { runs.append(run) }
                }
            }
            guard !runs.isEmpty else { throw ExperimentError("robustness: \(target) has no finished runs under runs/") }
        } else if fm.fileExists(atPath: target + "/config.resolved.json") {
            runs = [target]
        } else {
            throw ExperimentError("robustness: \(target) is neither a run folder (config.resolved.json) nor a comparison folder (comparison.json)")
        }
        var results: [RunResult] = []
        for (i, run) in runs.enumerated() {
            progress.log("robustness \(i + 1)/\(runs.count): \(run)")
            results.append(try evaluate(run: run, options: options, progress: progress))
        }
        var baselines: [UInt64: RunResult] = [:]
        if let path = options.baseline {
            let b = try evaluate(run: path, options: options, progress: progress)
            guard b.fusion == "late" else { throw ExperimentError("robustness: --baseline \(path) uses \(b.fusion) fusion; the baseline must be late fusion") }
            for r in results { baselines[r.seed] = b }
        } else {
            for r in results where r.fusion == "late" && baselines[r.seed] == nil { baselines[r.seed] = r }
        }
        var withoutBaseline: [String] = []
        for i in results.indices {
            guard let base = baselines[results[i].seed] ?? baselines.values.first else { withoutBaseline.append(results[i].run); continue }
            for c in results[i].curves.indices {
                guard let baseCurve = base.curves.first(where: { $0.modality == results[i].curves[c].modality }),
                      baseCurve.points.count == results[i].curves[c].points.count else { continue }
                let mine = results[i].curves[c].points
                let shift = mine[0].accuracy - baseCurve.points[0].accuracy
                let gaps = zip(mine, baseCurve.points).map { $0.accuracy - ($1.accuracy + shift) }
                results[i].curves[c].effectiveRobustness = gaps.reduce(0, +) / Double(gaps.count)
            }
        }
        var csv = "variant,seed,fusion,kind,modality,level,accuracy,f1_macro,relative_robustness,effective_robustness,run\n"
        func q(_ s: String) -> String { s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s }
        for r in results {
            for c in r.curves {
                for p in c.points {
                    csv += "\(q(r.variant)),\(r.seed),\(r.fusion),noise,\(c.modality),\(p.level),\(p.accuracy),\(p.f1Macro),\(c.relativeRobustness),"
                        + "\(c.effectiveRobustness.map { "\($0)" } ?? ""),\(q(r.run))\n"
                }
            }
            for m in r.missing {
                csv += "\(q(r.variant)),\(r.seed),\(r.fusion),missing,\(m.absent.joined(separator: "+")),,\(m.accuracy),\(m.f1Macro),,,\(q(r.run))\n"
            }
        }
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let protocolInfo = ProtocolInfo(levels: options.levels, seed: options.seed,
                                    image: "Gaussian pixel noise sigma 0.5*level (pixels in [0,1]) + a black square covering level/2 of the image",
                                    audio: "white noise at SNR 30 - 35*level dB relative to the clip, before MFCC",
                                    text: "each token dropped with probability level/2, then neighbours swapped with probability level/2",
                                    effectiveRobustness: "mean over levels of acc(level) - (acc_late(level) + acc(0) - acc_late(0)), late fusion of the same seed")
        let json = try encoder.encode(ReportFile(protocol: protocolInfo, runs: results))
        let csvPath = target + "/robustness.csv", jsonPath = target + "/robustness.json"
        try FileIO.writeAtomically(Data(csv.utf8), to: csvPath)
        try FileIO.writeAtomically(json, to: jsonPath)
        return Report(results: results, csv: csvPath, json: jsonPath, withoutBaseline: withoutBaseline)
    }

    struct ProtocolInfo: Codable {
        var levels: Int, seed: UInt64
        var image: String, audio: String, text: String, effectiveRobustness: String
    }

    struct ReportFile: Codable {
        var `protocol`: ProtocolInfo
        var runs: [RunResult]
    }

    /// robustness.json of `directory`, when there is one: the curves of every variant (mean over
    /// seeds) for the notebook.
    public static func figures(_ directory: String) -> RobustnessFigures? {
        guard let data = FileManager.default.contents(atPath: directory + "/robustness.json") else { return nil }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        guard let file = try? decoder.decode(ReportFile.self, from: data), !file.runs.isEmpty else { return nil }
        var figures = RobustnessFigures()
        let variants = Array(Set(file.runs.map(\.variant))).sorted()
        let modalities = Array(Set(file.runs.flatMap { $0.curves.map(\.modality) })).sorted()
        for m in modalities {
            var series: [SVGCharts.Series] = []
            for v in variants {
                let curves = file.runs.filter { $0.variant == v }.compactMap { $0.curves.first { $0.modality == m } }
                guard let first = curves.first else { continue }
                let points = first.points.indices.map { i in
                    (x: first.points[i].level, y: curves.map { $0.points[min(i, $0.points.count - 1)].accuracy }.reduce(0, +) / Double(curves.count))
                }
                series.append(SVGCharts.Series(name: v, points: points))
            }
            figures.curves.append((modality: m, series: series))
        }
        for v in variants {
            let runs = file.runs.filter { $0.variant == v }
            var row = [v, "\(runs.count)"]
            for m in modalities {
                let curves = runs.compactMap { $0.curves.first { $0.modality == m } }
                let rel = curves.map(\.relativeRobustness), eff = curves.compactMap(\.effectiveRobustness)
                row.append(rel.isEmpty ? "–" : String(format: "%.3f", rel.reduce(0, +) / Double(rel.count)))
                row.append(eff.isEmpty ? "–" : String(format: "%+.3f", eff.reduce(0, +) / Double(eff.count)))
            }
            figures.rows.append(row)
        }
        figures.header = ["variant", "runs"] + modalities.flatMap { ["\($0) relative", "\($0) effective"] }
        return figures
    }
}
