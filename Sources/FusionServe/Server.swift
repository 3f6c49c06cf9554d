import Foundation
import FusionData
import FusionExperiments
import Hummingbird
import Logging
import NIOCore
import Prometheus

/// How `fusionlab serve` listens and what it accepts.
public struct ServeOptions: Sendable {
    /// The address to bind (loopback by default: exposing a model is a decision).
    public var host = "127.0.0.1"
    /// The port; 0 picks a free one (the address is printed when the server runs).
    public var port = 8080
    /// The most samples one forward pass takes.
    public var maxBatch = 32
    /// How long a batch may wait for requests still being received or decoded to join it (a lone
    /// request never waits).
    public var maxWaitMilliseconds = 5.0
    /// The largest request body accepted (a 413 beyond it).
    public var maxUploadBytes = 16 << 20
    /// How long a request may wait for the model before a 503.
    public var timeoutMilliseconds = 10_000
    /// The most predict requests handled at once once their body has arrived (a 503 with
    /// Retry-After beyond it).
    public var maxConcurrent = 64
    /// The most requests whose body is still arriving, counted apart from `maxConcurrent`, so
    /// slow uploads cannot take the places of requests ready for the model (a 503 beyond it).
    public var maxUploading = 256
    /// How long a request's whole body may take to arrive after its headers (a 408 beyond it):
    /// a client trickling bytes cannot hold a place longer.
    public var bodyTimeoutMilliseconds = 10_000
    /// After SIGTERM or SIGINT: how long requests in flight get to finish before the server
    /// exits anyway.
    public var drainSeconds = 15.0
    /// Log every request (swift-log at info) instead of notices only.
    public var verbose = false

    /// The defaults: 127.0.0.1:8080, batches of up to 32 after 5 ms, 16 MiB uploads within 10 s
    /// (256 at once), 10 s timeout, 64 at the model at once, 15 s to drain.
    public init() {}
}

/// A request that cannot be answered, with the status and message the client gets.
struct RequestError: Error {
    let status: HTTPResponse.Status
    let message: String
    var headers: HTTPFields = [:]
}

/// The Prometheus metrics of one server: requests and errors by endpoint and status, the
/// predict latency, batch sizes and forward time, requests in flight.
final class ServeMetrics: @unchecked Sendable {
    let registry = PrometheusCollectorRegistry()
    private let lock = NSLock()
    private var requests: [String: Counter] = [:]
    private var errors: [String: Counter] = [:]
    let latency: DurationHistogram
    let batchSize: ValueHistogram
    let forward: DurationHistogram
    let inFlight: Gauge

    init(maxBatch: Int) {
        let seconds: [Duration] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10].map { .milliseconds($0 * 1000) }
        latency = registry.makeDurationHistogram(descriptor: Self.name("request_duration", "seconds", "Time from a predict request's arrival to its answer."),
                                                 labels: [("endpoint", "/v1/predict")], buckets: seconds)
        forward = registry.makeDurationHistogram(descriptor: Self.name("batch_forward", "seconds", "Time of one batched forward pass."), buckets: seconds)
        var sizes: [Double] = []
        var s = 1
        while s < maxBatch { sizes.append(Double(s)); s *= 2 }
        sizes.append(Double(maxBatch))
        batchSize = registry.makeValueHistogram(descriptor: Self.name("batch_size", "samples", "Samples per forward pass."), buckets: sizes)
        inFlight = registry.makeGauge(descriptor: Self.name("requests_in_flight", "", "Predict requests being handled."))
    }

    /// `fusionlab_<metric>_<unit>`.
    static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "fusionlab", metricName: metric, unitName: unit, helpText: help)
    }

    /// Counts a finished request (and an error when its status is 4xx or 5xx).
    func count(endpoint: String, status: Int) {
        let key = "\(endpoint) \(status)"
        lock.lock()
        let request = requests[key] ?? registry.makeCounter(descriptor: Self.name("requests", "total", "Requests answered, by endpoint and status."),
                                                              labels: [("endpoint", endpoint), ("status", "\(status)")])
        requests[key] = request
        var error: Counter?
        if status >= 400 {
            error = errors[key] ?? registry.makeCounter(descriptor: Self.name("request_errors", "total", "Requests answered with a 4xx or 5xx status."),
                                                        labels: [("endpoint", endpoint), ("status", "\(status)")])
            errors[key] = error
        }
        lock.unlock()
        request.increment()
        error?.increment()
    }
}

/// `fusionlab serve`: a finished run's model behind HTTP, on Hummingbird 2.
///
/// - `POST /v1/predict`: `multipart/form-data` with any of `text` (a field), `image` (PNG or
///   JPEG) and `audio` (any format the audio reader takes); absent modalities are masked out.
///   The answer: `{"label", "probabilities": {class: p}, "modalities": [present], "model": {"version", "run"}}`,
///   plus `"prediction_set": [classes]` when the run has conformal sets (`evaluation.conformal_alpha`);
///   probabilities use the fitted temperature when `evaluation.calibrate`.
/// - `GET /health`: the model's version, classes and modalities.
/// - `GET /metrics`: Prometheus text format.
///
/// A request goes through two stages with their own limits: its body arrives (at most
/// `maxUploading` at once, each within `bodyTimeoutMilliseconds`), then it is decoded and
/// predicted (at most `maxConcurrent` at once). Concurrent requests are micro-batched
/// (`ServeOptions.maxBatch`, `maxWaitMilliseconds`). Bad input is a 4xx with the decoder's
/// message; SIGTERM or SIGINT stops accepting connections at once, answers the requests in
/// flight, then returns — within `drainSeconds`, after which the process exits anyway.
public final class InferenceServer: Sendable {
    /// The model served.
    public let model: InferenceModel
    /// The settings.
    public let options: ServeOptions
    let metrics: ServeMetrics
    let batcher: MicroBatcher
    let limiter: ConcurrencyLimiter
    let uploads: ConcurrencyLimiter

    /// A server for `model` (nothing listens until `run`).
    public init(model: InferenceModel, options: ServeOptions) {
        self.model = model
        self.options = options
        let metrics = ServeMetrics(maxBatch: options.maxBatch)
        self.metrics = metrics
        batcher = MicroBatcher(model: model, maxBatch: options.maxBatch, maxWaitMilliseconds: options.maxWaitMilliseconds) { size, time in
            metrics.batchSize.record(Double(size))
            metrics.forward.record(time)
        }
        limiter = ConcurrencyLimiter(limit: options.maxConcurrent)
        uploads = ConcurrencyLimiter(limit: options.maxUploading)
    }

    /// Serves until SIGTERM or SIGINT, then drains; `onRunning` receives the bound port.
    public func run(onRunning: @escaping @Sendable (Int) -> Void) async throws {
        var logger = Logger(label: "fusionlab.serve")
        logger.logLevel = options.verbose ? .info : .notice
        let router = Router()
        router.get("/health") { _, _ in self.health() }
        router.get("/metrics") { _, _ in self.prometheus() }
        router.get("/v1/model") { _, _ in self.describe() }
        router.post("/v1/predict") { request, _ in await self.predict(request) }
        router.get("/openapi.json") { _, _ in self.openAPI() }
        router.get("/docs") { _, _ in self.docs() }
        let app = Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: .seconds(60))),
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "fusionlab"),
            onServerRunning: { channel in onRunning(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        defer { batcher.drain() }
        let watchdog = DrainWatchdog(seconds: options.drainSeconds, logger: logger)
        defer { watchdog.cancel() }
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }

    private func openAPI() -> Response {
        metrics.count(endpoint: "/openapi.json", status: 200)
        return json(.ok, ServeAPI.document(model: model, options: options))
    }

    private func docs() -> Response {
        metrics.count(endpoint: "/docs", status: 200)
        return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(string: ServeAPI.html(ServeAPI.document(model: model, options: options)))))
    }

    private func health() -> Response {
        metrics.count(endpoint: "/health", status: 200)
        return json(.ok, [
            "status": "ok", "model": ["version": model.version, "run": model.run], "classes": model.classNames,
            "modalities": model.modalities.map(\.rawValue),
        ])
    }

    private func describe() -> Response {
        metrics.count(endpoint: "/v1/model", status: 200)
        return json(.ok, [
            "model": ["version": model.version, "run": model.run], "classes": model.classNames,
            "modalities": model.modalities.map(\.rawValue), "preprocessing": model.preprocessing,
        ])
    }

    private func prometheus() -> Response {
        metrics.count(endpoint: "/metrics", status: 200)
        var buffer = [UInt8]()
        metrics.registry.emit(into: &buffer)
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                         body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
    }

    private func predict(_ request: Request) async -> Response {
        let start = ContinuousClock.now
        let endpoint = "/v1/predict"
        // Stage 1: the body arrives, within its deadline, among at most maxUploading.
        guard uploads.enter() else {
            metrics.count(endpoint: endpoint, status: 503)
            return failure(RequestError(status: .serviceUnavailable, message: "the server is receiving \(uploads.limit) uploads already; retry",
                                        headers: [.retryAfter: "1"]))
        }
        let body: ByteBuffer
        do {
            defer { uploads.leave() }
            body = try await receive(request)
        } catch {
            let failed = (error as? RequestError) ?? RequestError(status: .badRequest, message: "could not read the request body: \(error)")
            metrics.count(endpoint: endpoint, status: Int(failed.status.code))
            return failure(failed)
        }
        // Stage 2: decoding and the model, among at most maxConcurrent.
        guard limiter.enter() else {
            metrics.count(endpoint: endpoint, status: 503)
            return failure(RequestError(status: .serviceUnavailable, message: "the server is at its limit of \(limiter.limit) concurrent requests; retry",
                                        headers: [.retryAfter: "1"]))
        }
        metrics.inFlight.increment()
        batcher.announce()
        defer {
            metrics.inFlight.decrement()
            limiter.leave()
        }
        let response: Response
        do {
            response = try await answer(request, body: body)
        } catch let error as RequestError {
            response = failure(error)
        } catch let error as InferenceInputError {
            response = failure(RequestError(status: .unprocessableContent, message: "\(error)"))
        } catch BatcherError.timedOut(let ms) {
            response = failure(RequestError(status: .serviceUnavailable, message: "no answer from the model within the request timeout (\(ms) ms); retry"))
        } catch BatcherError.stopping {
            response = failure(RequestError(status: .serviceUnavailable, message: "the server is shutting down"))
        } catch {
            response = failure(RequestError(status: .internalServerError, message: "\(error)"))
        }
        metrics.count(endpoint: endpoint, status: Int(response.status.code))
        metrics.latency.record(ContinuousClock.now - start)
        return response
    }

    /// The request's body: within `maxUploadBytes` (413) and `bodyTimeoutMilliseconds` (408).
    private func receive(_ request: Request) async throws -> ByteBuffer {
        guard RequestFormat(contentType: request.headers[.contentType]) != nil else {
            throw RequestError(status: .unsupportedMediaType,
                               message: "expected Content-Type multipart/form-data (with a boundary), application/x-www-form-urlencoded or application/json, "
                                   + "got \(request.headers[.contentType].map { "\"\($0)\"" } ?? "none")")
        }
        let tooLarge = RequestError(status: .contentTooLarge, message: "the request body is larger than the limit of \(options.maxUploadBytes) bytes")
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > options.maxUploadBytes { throw tooLarge }
        let (limit, timeout) = (options.maxUploadBytes, options.bodyTimeoutMilliseconds)
        let tooSlow = RequestError(status: .requestTimeout, message: "the request body did not arrive within \(timeout) ms", headers: [.connection: "close"])
        do {
            return try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
                group.addTask { try await request.body.collect(upTo: limit) }
                group.addTask { try await Task.sleep(for: .milliseconds(timeout)); return nil }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let body = first else { throw tooSlow }
                return body
            }
        } catch is NIOTooManyBytesError {
            throw tooLarge
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw tooLarge
        }
    }

    private func answer(_ request: Request, body: ByteBuffer) async throws -> Response {
        // One sample announced in `predict`; a batch announces the rest here. Each is withdrawn
        // unless it reaches the batcher.
        var unsent = 1
        defer { for _ in 0..<unsent { batcher.withdraw() } }
        let format = RequestFormat(contentType: request.headers[.contentType]) ?? .json
        let parsed = try format.samples(Data(body.readableBytesView), accepted: model.modalities.map(\.rawValue), maxSamples: options.maxBatch)
        for _ in 1..<max(parsed.samples.count, 1) { batcher.announce(); unsent += 1 }
        var prepared: [PreparedSample] = []
        for (i, raw) in parsed.samples.enumerated() {
            do { prepared.append(try model.prepare(raw)) } catch let error as InferenceInputError {
                throw RequestError(status: .unprocessableContent, message: (parsed.batch ? "samples[\(i)]: " : "") + "\(error)")
            }
        }
        unsent = 0
        let timeout = options.timeoutMilliseconds
        let batcher = self.batcher
        let results = try await withThrowingTaskGroup(of: (Int, [Float]).self) { group in
            for (i, sample) in prepared.enumerated() {
                group.addTask { (i, try await batcher.predict(sample, timeoutMilliseconds: timeout)) }
            }
            var out = [[Float]](repeating: [], count: prepared.count)
            for try await (i, p) in group { out[i] = p }
            return out
        }
        var answers: [[String: Any]] = []
        for (i, probabilities) in results.enumerated() {
            guard probabilities.allSatisfy({ $0.isFinite }) else {
                throw RequestError(status: .internalServerError, message: (parsed.batch ? "samples[\(i)]: " : "") + "the model gave non-finite probabilities for this input")
            }
            let best = probabilities.indices.max { probabilities[$0] < probabilities[$1] } ?? 0
            var classes: [String: Double] = [:]
            for (name, p) in zip(model.classNames, probabilities) { classes[name] = Double(p) }
            var answer: [String: Any] = [
                "label": model.classNames[best], "probabilities": classes,
                "modalities": model.modalities.map(\.rawValue).filter { parsed.present[i].contains($0) },
                "model": ["version": model.version, "run": model.run],
            ]
            if let set = model.predictionSet(probabilities) { answer["prediction_set"] = set }
            answers.append(answer)
        }
        if parsed.batch { return json(.ok, ["predictions": answers, "model": ["version": model.version, "run": model.run]]) }
        return json(.ok, answers.first ?? [:])
    }

    private func failure(_ error: RequestError) -> Response {
        var response = json(error.status, ["error": ["status": Int(error.status.code), "message": error.message]])
        for field in error.headers { response.headers.append(field) }
        return response
    }

    private func json(_ status: HTTPResponse.Status, _ object: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// After SIGTERM or SIGINT, gives the graceful shutdown `seconds` to finish, then ends the
/// process: a client that never finishes its request cannot keep the server alive.
final class DrainWatchdog: @unchecked Sendable {
    private let sources: [DispatchSourceSignal]

    init(seconds: Double, logger: Logger) {
        sources = [SIGTERM, SIGINT].map { signal in
            _ = Foundation.signal(signal, SIG_IGN)  // delivered to the dispatch sources (here and the server's), not the default action
            let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
            source.setEventHandler {
                DispatchQueue.global().asyncAfter(deadline: .now() + seconds) {
                    logger.notice("serve: requests still in flight \(seconds) s after the signal; exiting without them")
                    exit(0)
                }
            }
            source.resume()
            return source
        }
    }

    /// Stops watching (the server stopped by itself).
    func cancel() { sources.forEach { $0.cancel() } }
}
