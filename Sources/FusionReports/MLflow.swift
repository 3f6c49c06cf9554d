import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import FusionCore

/// Where a training log goes: TensorBoard event files, an MLflow run, or both (`TrainingLogs`).
public protocol ScalarLog: AnyObject {
    /// Records `value` under `tag` (e.g. "val/accuracy") at the global step `step`.
    func scalar(_ tag: String, _ value: Float, step: Int) throws
    /// Records a markdown text under `tag`.
    func text(_ tag: String, _ markdown: String, step: Int) throws
    /// Sends or writes what is buffered.
    func flush() throws
    /// Flushes and ends the log; later writes throw or are dropped.
    func close() throws
}

extension TensorBoardWriter: ScalarLog {}

/// Every log a run writes to, written together: the trainer's one handle on tracking.
public final class TrainingLogs {
    /// The logs, in order.
    public let logs: [any ScalarLog]

    /// Writes to each of `logs`.
    public init(_ logs: [any ScalarLog]) { self.logs = logs }

    /// `ScalarLog.scalar` on every log.
    public func scalar(_ tag: String, _ value: Float, step: Int) throws { for log in logs { try log.scalar(tag, value, step: step) } }
    /// `ScalarLog.text` on every log.
    public func text(_ tag: String, _ markdown: String, step: Int = 0) throws { for log in logs { try log.text(tag, markdown, step: step) } }
    /// `ScalarLog.flush` on every log.
    public func flush() throws { for log in logs { try log.flush() } }
    /// `ScalarLog.close` on every log.
    public func close() throws { for log in logs { try log.close() } }
}

/// MLflow's tracking REST API (`/api/2.0/mlflow/…`), synchronously over HTTP(S): what a run
/// needs to appear in an `mlflow server` like one logged from Python.
public struct MLflowClient: Sendable {
    /// The tracking server, e.g. `http://127.0.0.1:5000`.
    public let base: URL
    /// Seconds one request may take.
    public var timeout: TimeInterval = 15

    /// A client of the tracking server at `uri` (http or https; MLflow's file store cannot be
    /// written from here).
    public init(_ uri: String) throws {
        let trimmed = uri.hasSuffix("/") ? String(uri.dropLast()) : uri
        guard let url = URL(string: trimmed), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
              url.host?.isEmpty == false else {
            throw ExperimentError("--mlflow: expected the URI of a tracking server (http://host:port, from `mlflow server`), got \"\(uri)\"")
        }
        base = url
    }

    /// MLflow's answer to a request that failed: the HTTP status and its error code and message.
    public struct Failure: Error, CustomStringConvertible {
        /// The HTTP status (0 when no answer came).
        public var status: Int
        /// MLflow's `error_code`, e.g. RESOURCE_DOES_NOT_EXIST.
        public var code: String
        /// What went wrong, with the request.
        public var description: String
    }

    /// Sends `method path` with a JSON body (or none) and returns the JSON answer.
    @discardableResult
    public func call(_ method: String, _ path: String, json: [String: Any]? = nil, query: [String: String] = [:]) throws -> [String: Any] {
        var components = URLComponents(url: base.appendingPathComponent(path), resolvingAgainstBaseURL: false)
        if !query.isEmpty { components?.queryItems = query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) } }
        guard let url = components?.url else { throw Failure(status: 0, code: "", description: "MLflow: cannot form a URL for \(path)") }
        var body: Data?
        if let json {
            guard JSONSerialization.isValidJSONObject(json) else {
                throw Failure(status: 0, code: "", description: "MLflow \(path): the request is not valid JSON (a non-finite number?)")
            }
            body = try JSONSerialization.data(withJSONObject: json)
        }
        let (status, data) = try send(method, url, body: body, contentType: "application/json")
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        guard (200..<300).contains(status) else {
            let code = object?["error_code"] as? String ?? ""
            let message = object?["message"] as? String ?? String(decoding: data.prefix(300), as: UTF8.self)
            throw Failure(status: status, code: code, description: "MLflow at \(base.absoluteString): \(method) \(path): HTTP \(status) \(code): \(message)")
        }
        return object ?? [:]
    }

    /// One request; the status and the body.
    func send(_ method: String, _ url: URL, body: Data?, contentType: String) throws -> (Int, Data) {
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = method
        if let body {
            request.httpBody = body
            request.setValue(contentType, forHTTPHeaderField: "Content-Type")
        }
        final class Outcome: @unchecked Sendable { var data: Data?, response: URLResponse?, error: Error? }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, response, error in
            (outcome.data, outcome.response, outcome.error) = (data, response, error)
            done.signal()
        }.resume()
        done.wait()
        if let error = outcome.error {
            throw Failure(status: 0, code: "", description: "MLflow at \(base.absoluteString): \(method) \(url.path): \(error.localizedDescription)")
        }
        return ((outcome.response as? HTTPURLResponse)?.statusCode ?? 0, outcome.data ?? Data())
    }

    /// The id of the experiment called `name`, created when there is none.
    public func experimentID(named name: String) throws -> String {
        func find() throws -> String? {
            do {
                let answer = try call("GET", "api/2.0/mlflow/experiments/get-by-name", query: ["experiment_name": name])
                return (answer["experiment"] as? [String: Any])?["experiment_id"] as? String
            } catch let failure as Failure where failure.code == "RESOURCE_DOES_NOT_EXIST" { return nil }
        }
        if let id = try find() { return id }
        do {
            if let id = try call("POST", "api/2.0/mlflow/experiments/create", json: ["name": name])["experiment_id"] as? String { return id }
        } catch let failure as Failure where failure.code == "RESOURCE_ALREADY_EXISTS" {
            // Another process created it meanwhile.
            if let id = try find() { return id }
        }
        throw Failure(status: 0, code: "", description: "MLflow at \(base.absoluteString): no id for experiment \"\(name)\"")
    }

    /// Uploads the file at `path` as the artifact `name` (a relative path) of a run whose
    /// artifact URI is `artifactURI`: through the server (`mlflow-artifacts:`, the default of
    /// `mlflow server`), or copied when the URI is a local folder.
    public func upload(_ path: String, as name: String, artifactURI: String) throws {
        if artifactURI.hasPrefix("mlflow-artifacts:") {
            // mlflow-artifacts:/<exp>/<run>/artifacts or mlflow-artifacts://host:port/<exp>/…
            var rest = String(artifactURI.dropFirst("mlflow-artifacts:".count))
            if rest.hasPrefix("//") { rest = String(rest.dropFirst(2).drop { $0 != "/" }) }
            let segments = (rest.split(separator: "/") + name.split(separator: "/")).map {
                $0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? String($0)
            }
            guard let url = URL(string: base.absoluteString + "/api/2.0/mlflow-artifacts/artifacts/" + segments.joined(separator: "/")) else {
                throw Failure(status: 0, code: "", description: "MLflow: cannot form the artifact URL of \(name)")
            }
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            let (status, answer) = try send("PUT", url, body: data, contentType: "application/octet-stream")
            guard (200..<300).contains(status) else {
                throw Failure(status: status, code: "", description: "MLflow at \(base.absoluteString): uploading \(name): HTTP \(status): "
                              + String(decoding: answer.prefix(300), as: UTF8.self))
            }
        } else if artifactURI.hasPrefix("/") || artifactURI.hasPrefix("file:") {
            let folder = artifactURI.hasPrefix("file:") ? (URL(string: artifactURI)?.path ?? "") : artifactURI
            let destination = folder + "/" + name
            try FileManager.default.createDirectory(atPath: (destination as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try writeFileAtomically(try Data(contentsOf: URL(fileURLWithPath: path)), to: destination)
        } else {
            throw Failure(status: 0, code: "", description: "MLflow: the run's artifacts go to \(artifactURI), which FusionLab cannot write; "
                          + "start the server with artifact serving (`mlflow server`, the default) to receive them")
        }
    }
}

/// One MLflow run, logged as training goes: parameters and tags at the start, metrics per
/// step (buffered, sent in batches at each flush), artifacts and the final status at the end.
/// Once the server fails to answer, logging stops with one warning: the run's own files keep
/// everything, and training never waits on a server that is gone. Metrics leave at most every
/// few seconds (or per 1,000 points), so short epochs do not each cost a request. Every method
/// holds one lock: the training thread logs while a Ctrl-C ends the run from the signal handler
/// (hence `@unchecked Sendable`).
public final class MLflowRun: ScalarLog, @unchecked Sendable {
    /// The client.
    public let client: MLflowClient
    /// MLflow's run and experiment ids, and where its artifacts go.
    public let runID: String, experimentID: String, artifactURI: String
    private var pending: [[String: Any]] = []
    private var stopped = false
    private var lastSent = Date()
    /// Points at the front of `pending` that belong to saved epochs (`flush` marks them).
    private var committed = 0
    private let lock = NSRecursiveLock()
    private let warn: @Sendable (String) -> Void
    /// Seconds between metric batches at most (`flush` sends earlier only with 1,000 points waiting).
    private let sendInterval: TimeInterval = 5

    /// MLflow's batch limits (REST API: 1000 metrics, 100 parameters, 100 tags a request).
    static let metricsPerBatch = 1000, paramsPerBatch = 100

    init(client: MLflowClient, runID: String, experimentID: String, artifactURI: String, warn: @escaping @Sendable (String) -> Void) {
        (self.client, self.runID, self.experimentID, self.artifactURI, self.warn) = (client, runID, experimentID, artifactURI, warn)
    }

    /// Creates a run named `name` in the experiment `experiment` (created when missing), with
    /// `tags` and `params`. Throws when the server cannot be reached: nothing has trained yet.
    public static func start(client: MLflowClient, experiment: String, name: String, tags: [String: String], params: [(String, String)],
                             warn: @escaping @Sendable (String) -> Void) throws -> MLflowRun {
        let experimentID = try client.experimentID(named: experiment)
        let tagList = tags.sorted { $0.key < $1.key }.map { ["key": $0.key, "value": String($0.value.prefix(5000))] }
        let answer = try client.call("POST", "api/2.0/mlflow/runs/create", json: [
            "experiment_id": experimentID, "run_name": name, "start_time": milliseconds(), "tags": tagList,
        ])
        let info = (answer["run"] as? [String: Any])?["info"] as? [String: Any]
        guard let runID = info?["run_id"] as? String else {
            throw MLflowClient.Failure(status: 0, code: "", description: "MLflow at \(client.base.absoluteString): runs/create answered no run id")
        }
        let run = MLflowRun(client: client, runID: runID, experimentID: experimentID, artifactURI: info?["artifact_uri"] as? String ?? "", warn: warn)
        var batch = [(String, String)]()
        for (key, value) in params {
            batch.append((sanitized(key), value.count > 6000 ? String(value.prefix(5999)) + "…" : value))
            if batch.count == paramsPerBatch { try run.logParams(batch); batch = [] }
        }
        if !batch.isEmpty { try run.logParams(batch) }
        return run
    }

    /// Continues the existing run `runID` (a resumed training run): its status goes back to RUNNING.
    public static func resume(client: MLflowClient, runID: String, warn: @escaping @Sendable (String) -> Void) throws -> MLflowRun {
        let answer = try client.call("GET", "api/2.0/mlflow/runs/get", query: ["run_id": runID])
        let info = (answer["run"] as? [String: Any])?["info"] as? [String: Any]
        try client.call("POST", "api/2.0/mlflow/runs/update", json: ["run_id": runID, "status": "RUNNING"])
        return MLflowRun(client: client, runID: runID, experimentID: info?["experiment_id"] as? String ?? "",
                         artifactURI: info?["artifact_uri"] as? String ?? "", warn: warn)
    }

    private func logParams(_ params: [(String, String)]) throws {
        try client.call("POST", "api/2.0/mlflow/runs/log-batch", json: ["run_id": runID, "params": params.map { ["key": $0.0, "value": $0.1] }])
    }

    /// MLflow's metric names take letters, digits, `_ - . /` and spaces; anything else becomes `_`.
    public static func sanitized(_ key: String) -> String {
        String(key.map { c -> Character in
            c.isASCII && (c.isLetter || c.isNumber || "_-./ ".contains(c)) ? c : "_"
        }.prefix(250))
    }

    static func milliseconds() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    /// Buffers a metric point (non-finite values, which JSON cannot carry, are left out).
    public func scalar(_ tag: String, _ value: Float, step: Int) throws {
        lock.lock()
        defer { lock.unlock() }
        guard !stopped, value.isFinite else { return }
        pending.append(["key": MLflowRun.sanitized(tag), "value": Double(value), "timestamp": MLflowRun.milliseconds(), "step": step])
        if pending.count >= MLflowRun.metricsPerBatch { send() }
    }

    /// MLflow has no text panel: the config is logged as parameters and as an artifact instead.
    public func text(_ tag: String, _ markdown: String, step: Int) throws {}

    /// Sends the buffered metrics when `sendInterval` has passed since the last batch (the
    /// trainer calls it at each epoch's end, once the epoch is saved).
    public func flush() throws {
        lock.lock()
        defer { lock.unlock() }
        committed = pending.count
        if Date().timeIntervalSince(lastSent) >= sendInterval { send() }
    }

    /// Sends every buffered metric, a batch at a time (under the lock).
    private func send() {
        while !pending.isEmpty && !stopped {
            let batch = Array(pending.prefix(MLflowRun.metricsPerBatch))
            guard attempt("logging metrics", { try client.call("POST", "api/2.0/mlflow/runs/log-batch", json: ["run_id": runID, "metrics": batch]) })
            else { return }
            pending.removeFirst(batch.count)
            committed = max(0, committed - batch.count)
        }
        lastSent = Date()
    }

    /// Sends everything buffered; `finish` ends the run.
    public func close() throws {
        lock.lock()
        defer { lock.unlock() }
        send()
    }

    /// Uploads each `(path on disk, artifact name)`; files that do not exist are skipped.
    public func upload(_ files: [(path: String, name: String)]) {
        lock.lock()
        defer { lock.unlock() }
        for file in files where FileManager.default.fileExists(atPath: file.path) {
            guard attempt("uploading \(file.name)", { try client.upload(file.path, as: file.name, artifactURI: artifactURI) }) else { return }
        }
    }

    /// How an MLflow run ends.
    public enum Status: String, Sendable { case finished = "FINISHED", failed = "FAILED", killed = "KILLED" }

    /// Records the run's end after sending what is buffered; KILLED first drops the points of
    /// the unfinished epoch (a resume logs that epoch again, once).
    public func finish(_ status: Status) {
        lock.lock()
        defer { lock.unlock() }
        if status == .killed { pending.removeLast(pending.count - committed) }
        send()
        attempt("ending the run") {
            try client.call("POST", "api/2.0/mlflow/runs/update", json: ["run_id": runID, "status": status.rawValue, "end_time": MLflowRun.milliseconds()])
        }
    }

    /// Runs `body`; on the first failure warns once and stops logging. False when it failed.
    @discardableResult
    private func attempt(_ what: String, _ body: () throws -> Void) -> Bool {
        guard !stopped else { return false }
        do {
            try body()
            return true
        } catch {
            stopped = true
            warn("MLflow logging stopped (\(what)): \(error); the run folder keeps every metric and file")
            return false
        }
    }
}
