import CFuzzer
import Foundation

// Built by scripts/fuzz.sh with `-sanitize=fuzzer,address -DFUZZING`: `main` hands over to
// libFuzzer's driver, which calls `LLVMFuzzerTestOneInput`; FUSIONLAB_FUZZ_TARGET picks the
// harness. In an ordinary build the executable replays inputs instead:
// `fusionlab-fuzz <harness> <file or folder>...`.

let selectedHarness: Harness? = ProcessInfo.processInfo.environment["FUSIONLAB_FUZZ_TARGET"].flatMap(Harness.init(rawValue:))

/// libFuzzer's per-input entry point.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    guard let harness = selectedHarness else {
        fatalError("set FUSIONLAB_FUZZ_TARGET to one of \(Harness.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    let data = bytes.map { Data(bytes: $0, count: count) } ?? Data()
    harness.run(data)
    return 0
}

#if FUZZING
/// Hands the command line to libFuzzer.
@main
struct Fuzz {
    static func main() {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        let status = LLVMFuzzerRunDriver(&argc, &argv) { bytes, count in fuzzOneInput(bytes, count) }
        exit(status)
    }
}
#else
/// Replays files (or every file in folders) through a harness: the seed corpus, or a crash
/// input libFuzzer saved, in an ordinary debug build.
@main
struct Replay {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let harness = Harness(rawValue: name), arguments.count > 1 else {
            print("usage: fusionlab-fuzz <\(Harness.allCases.map(\.rawValue).joined(separator: "|"))> <file or folder>...")
            exit(2)
        }
        var count = 0, accepted = 0
        for argument in arguments.dropFirst() where argument != "--verbose" {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory)
            let files = isDirectory.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? []).sorted().map { "\(argument)/\($0)" }
                : [argument]
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                let ok = harness.run(data)
                if CommandLine.arguments.contains("--verbose") { print("\(ok ? "accepted" : "rejected")  \(file)") }
                count += 1
                accepted += ok ? 1 : 0
            }
        }
        print("\(harness.rawValue): \(count) inputs replayed (\(accepted) accepted, \(count - accepted) rejected with an error), no invariant broken")
    }
}
#endif
