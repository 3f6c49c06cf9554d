import ArgumentParser
import Foundation
import FusionExperiments
import FusionServe
import FusionTensor

/// Serves a finished run's model over HTTP until SIGTERM or SIGINT.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a run's model over HTTP: POST /v1/predict (multipart text, image, audio), GET /health, GET /metrics.",
        discussion: """
        Concurrent requests are micro-batched. A request's body must arrive within --body-timeout-ms; uploads \
        in progress have their own limit (--max-uploading), so slow clients cannot take the model's places. \
        SIGTERM or SIGINT stops accepting at once, answers the requests in flight, and exits within \
        --drain-seconds. Example:
          curl -F text="a red square" -F image=@cat.png -F audio=@meow.wav http://127.0.0.1:8080/v1/predict
        """)
    @Argument(help: "Run directory.", completion: .directory) var runDirectory: String
    @Option(help: "Address to bind.") var host = "127.0.0.1"
    @Option(help: "Port (0 picks a free one; the address is printed).") var port = 8080
    @Option(help: "Most samples per forward pass.") var maxBatch = 32
    @Option(help: "How long (ms) a batch may wait for requests still being received to join it (a lone request never waits).") var maxWaitMs = 5.0
    @Option(help: "Largest request body, in MiB.") var maxUploadMib = 16.0
    @Option(help: "How long (ms) a request may wait for the model before a 503.") var timeoutMs = 10_000
    @Option(help: "Most predict requests at the model at once, once their body has arrived (a 503 with Retry-After beyond).") var maxConcurrent = 64
    @Option(help: "Most requests whose body is still arriving, apart from --max-concurrent (a 503 beyond).") var maxUploading = 256
    @Option(help: "How long (ms) a request's whole body may take to arrive (a 408 beyond).") var bodyTimeoutMs = 10_000
    @Option(help: "After SIGTERM or SIGINT: seconds for requests in flight to finish before the server exits anyway.") var drainSeconds = 15.0
    @Option(help: "Threads for the model's forward pass (default: the run's training.threads).") var threads: Int?
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535, got \(port)") }
        guard maxBatch >= 1 else { throw ValidationError("--max-batch must be at least 1, got \(maxBatch)") }
        guard maxWaitMs >= 0, maxWaitMs.isFinite else { throw ValidationError("--max-wait-ms must be ≥ 0, got \(maxWaitMs)") }
        guard maxUploadMib > 0, maxUploadMib <= 4096 else { throw ValidationError("--max-upload-mib must be in (0, 4096], got \(maxUploadMib)") }
        guard timeoutMs >= 1 else { throw ValidationError("--timeout-ms must be at least 1, got \(timeoutMs)") }
        guard maxConcurrent >= 1 else { throw ValidationError("--max-concurrent must be at least 1, got \(maxConcurrent)") }
        guard maxUploading >= 1 else { throw ValidationError("--max-uploading must be at least 1, got \(maxUploading)") }
        guard bodyTimeoutMs >= 1 else { throw ValidationError("--body-timeout-ms must be at least 1, got \(bodyTimeoutMs)") }
        guard drainSeconds >= 0, drainSeconds.isFinite else { throw ValidationError("--drain-seconds must be ≥ 0, got \(drainSeconds)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    func run() throws {
        let progress = output.progress()
        let model = try reportingErrors { try InferenceModel(run: runDirectory, progress: progress) }
        if let threads { Threading.setThreads(threads) }
        var options = ServeOptions()
        options.host = host
        options.port = port
        options.maxBatch = maxBatch
        options.maxWaitMilliseconds = maxWaitMs
        options.maxUploadBytes = Int(maxUploadMib * 1024 * 1024)
        options.timeoutMilliseconds = timeoutMs
        options.maxConcurrent = maxConcurrent
        options.maxUploading = maxUploading
        options.bodyTimeoutMilliseconds = bodyTimeoutMs
        options.drainSeconds = drainSeconds
        options.verbose = output.verbose
        let server = InferenceServer(model: model, options: options)
        let (host, quiet) = (self.host, output.quiet)
        let outcome = ServeOutcome()
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            do {
                try await server.run { port in
                    // The one line a script waits for (stdout, flushed), even with --quiet.
                    print("serving \(model.version) on http://\(host):\(port)")
                    if !quiet { print("  POST /v1/predict (fields: \(model.modalities.map(\.rawValue).joined(separator: ", "))), GET /health, GET /metrics; Ctrl-C or SIGTERM stops") }
                    fflush(nil)  // every output stream: stdout is a C global Swift 6 will not touch from here
                }
            } catch { outcome.error = error }
            done.signal()
        }
        done.wait()
        if let error = outcome.error {
            let text = "\(error)"
            // NIO's bind error names a syscall and an errno; a user needs the port and what to do.
            let message = text.contains("errno: 98") || text.contains("Address already in use")
                ? "port \(port) on \(host) is already in use; stop what listens there or choose another with --port (0 picks a free one)"
                : text
            FileHandle.standardError.write(Data("error: serve: \(message)\n".utf8))
            throw ExitCode(1)
        }
        if !quiet { print("stopped: every request in flight was answered") }
    }
}

/// The server task's result, handed back to the blocked main thread.
final class ServeOutcome: @unchecked Sendable {
    var error: (any Error)?
}
