import Foundation
import FusionData
import FusionConfig
import FusionModels
import XCTest

final class ConfigTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func write(_ name: String, _ text: String) -> String {
        let path = dir.appendingPathComponent(name).path
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    func expectError(_ path: String, overrides: [String] = [], _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ConfigLoader.load(path, overrides: overrides), file: file, line: line) { error in
            let message = "\(error)"
            for f in fragments { XCTAssertTrue(message.contains(f), "\"\(f)\" not in: \(message)", file: file, line: line) }
        }
    }

    func testDefaultsExtendsAndOverrides() throws {
        _ = write("base.json", #"{"name": "base", "training": {"epochs": 3, "lr": 0.01}, "model": {"fusion": {"kind": "gated"}}}"#)
        let child = write("child.json", #"{"extends": "base.json", "name": "child", "training": {"epochs": 5}}"#)
        let loaded = try ConfigLoader.load(child, overrides: ["model.fusion.kind=tensor", "training.batch_size=8", "seed=42"])
        XCTAssertEqual(loaded.config.name, "child")
        XCTAssertEqual(loaded.config.training.epochs, 5, "the child wins")
        XCTAssertEqual(loaded.config.training.lr, 0.01, "inherited from the base")
        XCTAssertEqual(loaded.config.model.fusion.kind, .tensor, "--set wins over both")
        XCTAssertEqual(loaded.config.training.batchSize, 8)
        XCTAssertEqual(loaded.config.seed, 42)
        XCTAssertEqual(loaded.config.preprocessing.audio.nMfcc, 13, "defaults fill the rest")
    }

    func testEnumErrorsListTheValuesAndSchemaKeysAreAccepted() throws {
        let file = write("enum.json", #"{"$schema": "../Experiments/experiment.schema.json", "name": "e", "model": {"modalities": ["txt"]}}"#)
        expectError(file, ["model.modalities.0", "expected one of \"text\", \"image\", \"audio\"", "did you mean \"text\"?"])
        let fine = write("schema.json", #"{"$schema": "../Experiments/experiment.schema.json", "name": "e"}"#)
        XCTAssertEqual(try ConfigLoader.load(fine).config.name, "e", "a \"$schema\" key is what editors use, not an error")
    }

    func testPathsResolveRelativeToTheFileThatNamesThem() throws {
        try FileManager.default.createDirectory(atPath: dir.appendingPathComponent("base").path, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.appendingPathComponent("exp").path, withIntermediateDirectories: true)
        _ = write("base/b.json", #"{"name": "b", "dataset": {"path": "data"}, "transfer": {"init_from": "../exp/pre.json"}}"#)
        let child = write("exp/c.json", #"{"extends": "../base/b.json", "name": "c", "model": {"text": {"pretrained": "/abs/model"}}}"#)
        let config = try ConfigLoader.load(child).config
        let root = dir.standardizedFileURL.path
        XCTAssertEqual(config.dataset.path, root + "/base/data", "relative to the base file that names it")
        XCTAssertEqual(config.transfer.initFrom, root + "/exp/pre.json")
        XCTAssertEqual(config.model.text.pretrained, "/abs/model", "absolute paths stay")
        let overridden = try ConfigLoader.load(child, overrides: ["dataset.path=elsewhere"]).config
        XCTAssertEqual(overridden.dataset.path, "elsewhere", "--set paths are the command line's, relative to the working folder")
    }

    func testUnknownKeysSuggestTheNearestValidKey() {
        let path = write("typo.json", #"{"trainng": {"epochs": 2}, "training": {"batchsize": 4, "early_stopping": {"patiense": 2}}}"#)
        expectError(path, ["typo.json: trainng: unknown key; did you mean \"training\"?",
                           "training.batchsize: unknown key; did you mean \"batch_size\"?",
                           "training.early_stopping.patiense: unknown key; did you mean \"patience\"?"])
        let nested = write("nested.json", #"{"transfer": {"lr_multipliers": [{"pattern": "encoders.*", "factr": 0.1}]}}"#)
        expectError(nested, ["transfer.lr_multipliers.0.factr: unknown key; did you mean \"factor\"?"])
    }

    func testEveryMistakeOfAFileIsReportedAtOnce() {
        // An unknown key, a bad choice, a fraction for an integer and a value out of range: four
        // kinds of check, four reports in one run.
        let path = write("four.json", #"{"training": {"epochs": 0, "optimiser": "adam", "batch_size": 2.5}, "model": {"fusion": {"kind": "attn"}}}"#)
        expectError(path, ["training.optimiser: unknown key; did you mean \"optimizer\"?", "got \"attn\"; did you mean \"attention\"?",
                           "training.batch_size: expected an integer, got 2.5", "training.epochs: expected at least 1, got 0"])
    }

    func testWrongTypesAndRangesNameThePathAndTheFile() {
        _ = write("base.json", #"{"training": {"epochs": "ten"}}"#)
        let child = write("child.json", #"{"extends": "base.json"}"#)
        expectError(child, ["base.json: training.epochs: expected an integer"])
        let range = write("range.json", #"{"training": {"lr": -1}, "model": {"fusion": {"kind": "concat", "dim": 10, "heads": 3}}}"#)
        expectError(range, ["range.json: training.lr: expected a positive learning rate",
                            "model.fusion.heads: expected a divisor of model.fusion.dim (10), got 3"])
        // Every wrong choice at once, each with the values its key takes.
        let choices = write("choices.json", #"{"training": {"optimizer": "adm", "schedule": {"kind": "cosin"}}, "model": {"modalities": ["text", "imag"]}}"#)
        expectError(choices, ["choices.json: training.optimizer: expected one of \"adam\", \"adamw\", \"sgd\", got \"adm\"; did you mean \"adam\"?",
                              "training.schedule.kind: expected one of \"constant\", \"step\", \"cosine\", got \"cosin\"; did you mean \"cosine\"?",
                              "model.modalities.1: expected one of \"text\", \"image\", \"audio\", got \"imag\"; did you mean \"image\"?"])
        let badEnum = write("enum.json", #"{"model": {"fusion": {"kind": "cocnat"}}}"#)
        expectError(badEnum, ["enum.json: model.fusion.kind"])
    }

    func testAudioSettingsThatWouldDivideByZeroOrExhaustMemoryAreClearErrors() {
        let file = write("audio.json", #"{"name": "a", "model": {"modalities": ["audio"]}}"#)
        expectError(file, overrides: ["preprocessing.audio.hop_length=0"], ["preprocessing.audio.hop_length", "expected at least 1"])
        expectError(file, overrides: ["preprocessing.audio.n_mels=1000000000"], ["preprocessing.audio.n_mels", "n_fft/2+1"])
        expectError(file, overrides: ["preprocessing.audio.n_fft=1000001"], ["preprocessing.audio.n_fft", "16...65536"])
        expectError(file, overrides: ["preprocessing.audio.fmin=5000"], ["preprocessing.audio.fmin"])
        expectError(file, overrides: ["preprocessing.audio.win_length=4096"], ["preprocessing.audio.win_length"])
    }

    func testColourImagesGetOneNormalisationValuePerChannel() throws {
        let file = write("rgb.json", #"{"name": "c", "preprocessing": {"image": {"color": "rgb"}}}"#)
        let image = try ConfigLoader.load(file).config.preprocessing.image
        XCTAssertEqual(image.mean, [0.5, 0.5, 0.5])
        XCTAssertEqual(image.std, [0.25, 0.25, 0.25])
    }

    func testPretrainedPresetsBringVisiblePreprocessingDefaults() throws {
        let image = write("lite.json", #"{"name": "l", "model": {"modalities": ["image"], "image": {"preset": "efficientnet_lite0", "pretrained": "none"}}, "preprocessing": {"image": {"height": 96}}}"#)
        let i = try ConfigLoader.load(image).config.preprocessing.image
        XCTAssertEqual([i.height, i.width], [96, 224], "the file's key wins, the preset fills the rest")
        XCTAssertEqual(i.color, .rgb)
        XCTAssertEqual(i.resize, .bicubic)
        XCTAssertEqual(i.centerCrop, 0.875)
        XCTAssertEqual(i.mean.count, 3)
        let audio = write("speech.json", #"{"name": "s", "model": {"modalities": ["audio"], "audio": {"preset": "speech_embedding", "pretrained": "none"}}, "preprocessing": {"audio": {"duration": 1.0}}}"#)
        let a = try ConfigLoader.load(audio).config.preprocessing.audio
        XCTAssertEqual([a.sampleRate, a.nFft, a.winLength, a.hopLength, a.nMels], [16000, 512, 400, 160, 32])
        XCTAssertEqual(a.features, .logMel)
        XCTAssertFalse(a.center)
        let sound = write("sound.json", #"{"name": "s", "model": {"modalities": ["audio"], "audio": {"preset": "sound_embedding", "pretrained": "none"}}}"#)
        let config = try ConfigLoader.load(sound).config
        let m = try XCTUnwrap(config.preprocessingSettings.audio)
        XCTAssertEqual(m.shape, [96, 100], "aiSFX's 100-frame block")
        XCTAssertEqual([m.mfcc.sampleRate, m.mfcc.nFFT, m.mfcc.window, m.mfcc.hopLength, m.mfcc.nMels], [44100, 2048, 2048, 1024, 96])
        XCTAssertEqual(m.mfcc.framing, .essentia)
        XCTAssertEqual(m.mfcc.windowShape, .hannSymmetric)
        XCTAssertEqual(m.mfcc.melScale, .htk)
        XCTAssertEqual(m.mfcc.melNorm, .sum)
        XCTAssertEqual(m.mfcc.melTriangles, .mel)
        XCTAssertEqual(m.mfcc.compression, .log10Plus1)
        XCTAssertNil(m.mfcc.topDB)
        XCTAssertFalse(m.mfcc.standardize)
        XCTAssertEqual(m.mfcc.logScale, 1 / 9.457798957824707, accuracy: 1e-12)
        // A preset with weights names the file a run loads; a missing one names the fetch script.
        let missing = write("missing.json", #"{"name": "m", "model": {"modalities": ["audio"], "audio": {"preset": "speech_embedding", "pretrained": "nowhere.safetensors"}}, "preprocessing": {"audio": {"duration": 1.0}}}"#)
        let issues = ConfigValidation.checkFiles(try ConfigLoader.load(missing).config).filter { $0.path.hasPrefix("model.") }
        XCTAssertEqual(issues.map(\.path), ["model.audio.pretrained"])
        XCTAssertTrue(issues.first?.message.contains("scripts/fetch-pretrained.sh") ?? false)
    }

    func testTrailingCommasAreRefusedWithLineAndColumnAndAbbreviationsGetASuggestion() {
        let comma = write("comma.json", "{\n  \"name\": \"x\",\n  \"seed\": 2,\n}")
        expectError(comma, ["comma.json: not valid JSON at line 3, column 12: a comma before a closing bracket or brace"])
        let list = write("list.json", #"{"name": "x", "model": {"modalities": ["image", "audio",]}}"#)
        expectError(list, ["not valid JSON at line 1, column 56"])
        let quoted = write("quoted.json", #"{"name": "x", "dataset": {"cache_dir": "a, ]b"}}"#)
        XCTAssertNoThrow(try ConfigLoader.parseJSONFile(quoted), "a comma inside a string is text")
        let attn = write("attn.json", #"{"name": "x", "model": {"fusion": {"kind": "attn"}}}"#)
        expectError(attn, ["model.fusion.kind: expected one of", "got \"attn\"; did you mean \"attention\"?"])
    }

    func testIntegerKeysRefuseFractionsAndValuesBelowTheirMinimum() {
        let path = write("ints.json", "{}")
        expectError(path, overrides: ["training.epochs=0.5"], ["training.epochs: expected an integer, got 0.5"])
        expectError(path, overrides: ["seed=-1"], ["seed: expected at least 0, got -1"])
        expectError(path, overrides: ["preprocessing.audio.n_mels=1e30"], ["preprocessing.audio.n_mels: expected an integer, got 1e+30"])
    }

    func testOverridePathsMustExist() {
        let path = write("ok.json", "{}")
        expectError(path, overrides: ["training.epoch=3"], ["--set training.epoch: no key epoch at training; did you mean training.epochs?"])
        expectError(path, overrides: ["training"], ["expected key.path=value"])
    }

    func testSyntaxErrorsGiveTheLine() {
        let path = write("broken.json", "{\n  \"name\": \"x\",\n  \"seed\": 1,,\n}")
        expectError(path, ["broken.json: not valid JSON at line 3"])
        let cycle = write("a.json", #"{"extends": "a.json"}"#)
        expectError(cycle, ["extends forms a cycle"])
    }

    func testEveryOptionIsDocumentedAndTheReferenceIsUpToDate() throws {
        let entries = ConfigSchema.entries()
        XCTAssertGreaterThan(entries.count, 130)
        XCTAssertEqual(entries.filter { $0.description.count < 12 }.map(\.key), [], "every option has a real description")
        let batch = try XCTUnwrap(entries.first { $0.key == "training.batch_size" })
        XCTAssertEqual(batch.defaultValue, "32")
        XCTAssertEqual(entries.first { $0.key == "training.optimizer" }?.allowed, ["adam", "adamw", "sgd"])
        XCTAssertTrue(LayerSpec.settingDocumentation.keys.contains("bidirectional"))
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let committed = try String(contentsOf: root.appendingPathComponent("docs/experiment-format.md"), encoding: .utf8)
        XCTAssertEqual(committed, ConfigSchema.markdown(), "regenerate with: fusionlab schema --markdown > docs/experiment-format.md")
    }

    func testFilesTheExperimentNamesAreChecked() throws {
        var config = ExperimentConfig()
        config.dataset.path = "/nonexistent/dataset"
        config.transfer.initFrom = "/nonexistent/best.safetensors"
        config.preprocessing.text.tokenizer = .wordpiece
        let issues = ConfigValidation.checkFiles(config)
        XCTAssertEqual(issues.map(\.path), ["dataset.path", "transfer.init_from", "preprocessing.text.vocab"])
        XCTAssertTrue(issues[0].message.contains("/nonexistent/dataset"))
        config.dataset.generate = true
        config.transfer.initFrom = ""
        config.model.modalities = [.image]
        XCTAssertEqual(ConfigValidation.checkFiles(config).map(\.path), [], "a generated dataset and an unread tokenizer need no files")
    }

    func testCommittedSchemaIsUpToDate() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let committed = try String(contentsOf: root.appendingPathComponent("Experiments/experiment.schema.json"), encoding: .utf8)
        XCTAssertEqual(committed, ConfigSchema.jsonText(), "regenerate with: fusionlab schema > Experiments/experiment.schema.json")
        let schema = ConfigSchema.jsonSchema()
        let properties = schema["properties"] as? [String: Any]
        let training = (properties?["training"] as? [String: Any])?["properties"] as? [String: Any]
        XCTAssertEqual((training?["batch_size"] as? [String: Any])?["type"] as? String, "integer")
        XCTAssertEqual((training?["lr"] as? [String: Any])?["type"] as? String, "number")
    }

    /// A standard JSON Schema validator (Python's jsonschema, Draft 2020-12) and FusionLab's loader
    /// agree on every shipped experiment file and on deliberately wrong ones.
    func testAStandardSchemaValidatorAgreesWithTheLoader() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let tools = root.appendingPathComponent(".build/jsonschema-python").path
        guard FileManager.default.fileExists(atPath: tools + "/jsonschema") else {
            throw XCTSkip("jsonschema not found in \(tools): run scripts/fetch-python-tools.sh jsonschema jsonschema (needs PyPI)")
        }
        var files = ["Experiments", "Experiments/avdigits"].flatMap { folder in
            ((try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(folder).path)) ?? [])
                .filter { $0.hasSuffix(".json") && $0 != "experiment.schema.json" }.map { root.appendingPathComponent(folder + "/" + $0).path }
        }
        XCTAssertGreaterThan(files.count, 20)
        let wrong = [
            ("unknown-key", #"{"name": "x", "trainng": {"epochs": 2}}"#), ("wrong-type", #"{"training": {"epochs": "ten"}}"#),
            ("bad-choice", #"{"model": {"fusion": {"kind": "attn"}}}"#), ("fraction", #"{"training": {"batch_size": 2.5}}"#),
            ("below-minimum", #"{"training": {"epochs": 0}}"#), ("schema-key", #"{"$schema": "experiment.schema.json", "name": "ok"}"#),
        ]
        for (name, text) in wrong { files.append(write("\(name).json", text)) }
        let script = """
        import json, sys, jsonschema
        schema = json.load(open(sys.argv[1]))
        validator = jsonschema.Draft202012Validator(schema)
        print(json.dumps({path: not list(validator.iter_errors(json.load(open(path)))) for path in sys.argv[2:]}))
        """
        var env = ProcessInfo.processInfo.environment
        env["PYTHONPATH"] = tools
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, root.appendingPathComponent("Experiments/experiment.schema.json").path] + files
        process.environment = env
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let verdicts = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Bool])
        for file in files {
            let loaded = (try? ConfigLoader.load(file)) != nil
            XCTAssertEqual(verdicts[file], loaded, "\(file): jsonschema says \(verdicts[file] ?? false ? "valid" : "invalid"), FusionLab \(loaded ? "valid" : "invalid")")
        }
        XCTAssertEqual(verdicts.values.filter { !$0 }.count, 5, "the five wrong files, and only they, are invalid")
    }
}
