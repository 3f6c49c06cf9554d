import Foundation
import FusionTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.1 client over a POSIX socket: what the serve tests post with, so that they can
/// also send what no well-behaved client library would.
struct LoopbackHTTP {
    struct Reply {
        var status: Int
        var headers: [String: String]
        var body: Data
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    let port: Int

    /// Sends `head` (without the blank line) and `body` with `Connection: close`; reads the reply to
    /// EOF. With `pause`, the body's second half follows after that many seconds (a slow upload).
    func send(_ method: String, _ path: String, headers: [String] = [], body: Data = Data(), pause: Double = 0) throws -> Reply {
        let fd = try Self.connect(port: port)
        defer { close(fd) }
        var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: \(body.count)\r\n"
        for h in headers { request += h + "\r\n" }
        var bytes = Data((request + "\r\n").utf8)
        bytes.append(body)
        let split = pause > 0 ? bytes.count - body.count / 2 : bytes.count
        try bytes.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                if sent == split { usleep(UInt32(pause * 1e6)) }
                let n = Glibc.send(fd, raw.baseAddress! + sent, (sent < split ? split : raw.count) - sent, Int32(MSG_NOSIGNAL))
                // The server may answer (413) and close before reading everything: keep the reply.
                if n <= 0 { if errno == EPIPE || errno == ECONNRESET { break }; throw NSError(domain: "send", code: Int(errno)) }
                sent += n
            }
        }
        var reply = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            reply.append(buffer, count: n)
        }
        guard let split = reply.range(of: Data("\r\n\r\n".utf8)) else { throw NSError(domain: "reply without headers: \(String(decoding: reply, as: UTF8.self))", code: 0) }
        let head = String(decoding: reply[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(head.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        var fields: [String: String] = [:]
        for line in head.dropFirst() {
            if let colon = line.firstIndex(of: ":") { fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
        }
        var content = Data(reply[split.upperBound...])
        if fields["transfer-encoding"] == "chunked" { content = Self.unchunk(content) }
        return Reply(status: status, headers: fields, body: content)
    }

    /// A TCP connection to 127.0.0.1:`port` (the caller closes it).
    static func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw NSError(domain: "socket", code: Int(errno)) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { close(fd); throw NSError(domain: "connect", code: Int(errno)) }
        return fd
    }

    static func unchunk(_ data: Data) -> Data {
        var out = Data(), rest = data[...]
        while let line = rest.range(of: Data("\r\n".utf8)) {
            let size = Int(String(decoding: rest[..<line.lowerBound], as: UTF8.self), radix: 16) ?? 0
            if size == 0 { break }
            let start = line.upperBound
            out.append(rest[start..<start + size])
            rest = rest[(start + size + 2)...]
        }
        return out
    }

    /// A multipart/form-data body of `fields` (name, filename or nil, bytes).
    static func form(_ fields: [(String, String?, Data)], boundary: String = "fusionlab-test-boundary") -> (header: String, body: Data) {
        var body = Data()
        for (name, filename, bytes) in fields {
            var head = "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\""
            if let filename { head += "; filename=\"\(filename)\"\r\nContent-Type: application/octet-stream" }
            body.append(Data((head + "\r\n\r\n").utf8))
            body.append(bytes)
            body.append(Data("\r\n".utf8))
        }
        body.append(Data("--\(boundary)--\r\n".utf8))
        return ("Content-Type: multipart/form-data; boundary=\(boundary)", body)
    }

    /// Runs `body(0..<n)` on n threads at once (GCD would run blocking calls only a core's worth at a time).
    static func concurrently(_ n: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let group = DispatchGroup()
        for i in 0..<n {
            group.enter()
            let thread = Thread { body(i); group.leave() }
            thread.start()
        }
        group.wait()
    }

    func predict(_ fields: [(String, String?, Data)], pause: Double = 0) throws -> Reply {
        let (header, body) = Self.form(fields)
        return try send("POST", "/v1/predict", headers: [header], body: body, pause: pause)
    }
}

/// `fusionlab serve` as a real process on loopback: answers equal `fusionlab predict`, concurrent
/// requests are batched, bad uploads get 4xx with the decoder's message (without leaking), the
/// limits hold, and SIGTERM answers what is in flight before exiting.
final class ServeTests: XCTestCase, CommandLineTesting {
    nonisolated(unsafe) static var workspace = makeWorkspace("serve")
    override class func tearDown() { removeWorkspace(); super.tearDown() }

    /// A running server and the port it printed.
    final class Server {
        let process: Process
        let port: Int
        let output: Pipe
        init(process: Process, port: Int, output: Pipe) {
            self.process = process
            self.port = port
            self.output = output
        }
        var client: LoopbackHTTP { LoopbackHTTP(port: port) }
        deinit { if process.isRunning { process.terminate(); process.waitUntilExit() } }

        /// Resident memory of the server process, in KiB.
        var residentKiB: Int {
            let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
    }

    /// Trains the tiny run the serve tests share (once per test process).
    func servedRun() throws -> String {
        let experiment = tinyExperiment("served", epochs: 2)
        if let existing = runDirectories("served").last { return existing }
        XCTAssertEqual(try fusionlab(["run", experiment, "--quiet"]).status, 0)
        return try XCTUnwrap(runDirectories("served").last)
    }

    /// Starts `fusionlab serve run --port 0 extra…` and waits for its "serving … on http://…:PORT" line.
    func startServer(_ run: String, _ extra: [String] = []) throws -> Server {
        let process = Process()
        process.executableURL = executable
        process.arguments = ["serve", run, "--port", "0", "--quiet"] + extra
        process.currentDirectoryURL = Self.workspace
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.standardError
        try process.run()
        var seen = ""
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !seen.contains("\n") {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += String(decoding: chunk, as: UTF8.self)
        }
        guard let line = seen.split(separator: "\n").first(where: { $0.hasPrefix("serving ") }),
              let port = Int(line.split(separator: ":").last ?? "") else {
            process.terminate()
            throw NSError(domain: "serve did not start: \(seen)", code: 0)
        }
        return Server(process: process, port: port, output: out)
    }

    func sampleFiles(_ id: String) -> (image: Data, audio: Data, imagePath: String, audioPath: String) {
        let root = Self.workspace.appendingPathComponent("data-80")
        let image = root.appendingPathComponent("images/\(id).png"), audio = root.appendingPathComponent("audio/\(id).wav")
        return ((try? Data(contentsOf: image)) ?? Data(), (try? Data(contentsOf: audio)) ?? Data(), image.path, audio.path)
    }

    /// `fusionlab predict`'s printed probabilities, by class.
    func cliProbabilities(_ run: String, _ arguments: [String]) throws -> [String: Double] {
        let result = try fusionlab(["predict", run] + arguments)
        XCTAssertEqual(result.status, 0, result.err)
        var values: [String: Double] = [:]
        for line in result.out.split(separator: "\n").dropFirst() {
            let parts = line.split(separator: " ")
            if parts.count == 2, let p = Double(parts[1]) { values[String(parts[0])] = p }
        }
        return values
    }

    func testServeAnswersLikePredictAndBatchesConcurrentRequests() throws {
        let run = try servedRun()
        let server = try startServer(run, ["--max-wait-ms", "150", "--max-batch", "8"])
        let client = server.client
        let health = try client.send("GET", "/health")
        XCTAssertEqual(health.status, 200, health.text)
        XCTAssertEqual(health.json["modalities"] as? [String], ["text", "image", "audio"])
        let version = try XCTUnwrap((health.json["model"] as? [String: Any])?["version"] as? String)
        // The model description: what a client must do to raw files, under the format's key names.
        let described = try client.send("GET", "/v1/model")
        XCTAssertEqual(described.status, 200, described.text)
        let preprocessing = try XCTUnwrap(described.json["preprocessing"] as? [String: Any])
        XCTAssertEqual((preprocessing["audio"] as? [String: Any])?["mel_scale"] as? String, "slaney")
        XCTAssertNotNil((preprocessing["audio"] as? [String: Any])?["hop_length"] as? Int)
        XCTAssertEqual((preprocessing["image"] as? [String: Any])?["resize"] as? String, "bilinear")
        XCTAssertEqual((preprocessing["text"] as? [String: Any])?["tokenizer"] as? String, "word")

        // Every modality, image alone, text alone: the served probabilities are predict's.
        let s = sampleFiles("s00001"), caption = "a photo with a round shape"
        let cases: [([(String, String?, Data)], [String])] = [
            ([("text", nil, Data(caption.utf8)), ("image", "s00001.png", s.image), ("audio", "s00001.wav", s.audio)],
             ["--text", caption, "--image", s.imagePath, "--audio", s.audioPath]),
            ([("image", "s00001.png", s.image)], ["--image", s.imagePath]),
            ([("text", nil, Data(caption.utf8))], ["--text", caption]),
        ]
        for (fields, arguments) in cases {
            let reply = try client.predict(fields)
            XCTAssertEqual(reply.status, 200, reply.text)
            let served = try XCTUnwrap(reply.json["probabilities"] as? [String: Double])
            let expected = try cliProbabilities(run, arguments)
            XCTAssertEqual(Set(served.keys), Set(expected.keys))
            for (name, p) in expected { XCTAssertEqual(served[name] ?? -1, p, accuracy: 6e-5, "\(name) for \(arguments)") }
            XCTAssertEqual(reply.json["modalities"] as? [String], fields.map(\.0).sorted { ["text", "image", "audio"].firstIndex(of: $0)! < ["text", "image", "audio"].firstIndex(of: $1)! })
            XCTAssertEqual((reply.json["model"] as? [String: Any])?["version"] as? String, version)
            XCTAssertEqual(reply.json["label"] as? String, expected.max { $0.value < $1.value }?.key)
        }

        // 16 concurrent requests over 4 samples: all answered, equal to the same sample's answer alone.
        let ids = ["s00002", "s00003", "s00004", "s00005"]
        var alone: [String: [String: Double]] = [:]
        for id in ids {
            let f = sampleFiles(id)
            alone[id] = try client.predict([("image", "\(id).png", f.image), ("audio", "\(id).wav", f.audio)]).json["probabilities"] as? [String: Double]
        }
        let lock = NSLock()
        nonisolated(unsafe) var replies: [(String, LoopbackHTTP.Reply?)] = []
        let files = Dictionary(uniqueKeysWithValues: ids.map { ($0, sampleFiles($0)) })
        LoopbackHTTP.concurrently(16) { i in
            let id = ids[i % 4]
            guard let f = files[id] else { return }
            let reply = try? client.predict([("image", "\(id).png", f.image), ("audio", "\(id).wav", f.audio)])
            lock.lock(); replies.append((id, reply)); lock.unlock()
        }
        XCTAssertEqual(replies.count, 16)
        for (id, reply) in replies {
            XCTAssertEqual(reply?.status, 200, reply?.text ?? "no reply")
            let p = reply?.json["probabilities"] as? [String: Double] ?? [:]
            for (name, q) in alone[id] ?? [:] { XCTAssertEqual(p[name] ?? -1, q, accuracy: 1e-5, "\(id) \(name) batched vs alone") }
        }

        // The metrics: 23 answered predictions, in fewer forward passes than requests.
        let metrics = try client.send("GET", "/metrics").text
        func value(_ prefix: String) -> Double? {
            metrics.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        XCTAssertEqual(value("fusionlab_requests_total{endpoint=\"/v1/predict\",status=\"200\"}"), 23, metrics)
        XCTAssertEqual(value("fusionlab_batch_size_samples_sum"), 23, metrics)
        let passes = try XCTUnwrap(value("fusionlab_batch_size_samples_count"), metrics)
        XCTAssertLessThan(passes, 23, "concurrent requests were not batched:\n\(metrics)")
        XCTAssertNotNil(value("fusionlab_request_duration_seconds_count{endpoint=\"/v1/predict\"}"))
    }

    func testServeRejectsBadRequestsWithTheReasonAndDoesNotLeak() throws {
        let run = try servedRun()
        let server = try startServer(run, ["--max-upload-mib", "0.25"])
        let client = server.client
        let s = sampleFiles("s00001")
        func expect(_ reply: LoopbackHTTP.Reply, _ status: Int, _ words: [String], line: UInt = #line) {
            XCTAssertEqual(reply.status, status, reply.text, line: line)
            let message = (reply.json["error"] as? [String: Any])?["message"] as? String ?? ""
            for w in words { XCTAssertTrue(message.contains(w), "\"\(message)\" lacks \"\(w)\"", line: line) }
        }
        expect(try client.predict([("image", "broken.png", s.image.prefix(60))]), 422, ["broken.png", "PNG"])
        expect(try client.predict([("image", "sound.png", s.audio)]), 422, ["sound.png"])
        expect(try client.predict([("audio", "noise.wav", Data(repeating: 7, count: 300))]), 422, ["noise.wav"])
        expect(try client.predict([("colour", nil, Data("red".utf8))]), 400, ["unknown field \"colour\"", "text, image, audio"])
        expect(try client.predict([("text", nil, Data("a".utf8)), ("text", nil, Data("b".utf8))]), 400, ["twice"])
        expect(try client.predict([]), 400, ["no field"])
        expect(try client.send("POST", "/v1/predict", headers: ["Content-Type: application/json"], body: Data("{}".utf8)), 400, ["no field"])
        expect(try client.send("POST", "/v1/predict", headers: ["Content-Type: text/plain"], body: Data("seven".utf8)), 415,
               ["multipart/form-data", "application/json"])
        let (header, body) = LoopbackHTTP.form([("text", nil, Data("cut".utf8))])
        expect(try client.send("POST", "/v1/predict", headers: [header], body: body.prefix(body.count - 30)), 400, ["closing boundary"])
        expect(try client.predict([("image", "big.png", Data(repeating: 1, count: 400_000))]), 413, ["262144 bytes"])

        // Corrupt uploads do not leak: RSS stays flat over 300 more of 64 KiB each.
        var garbage = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        garbage.append(Data((0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) }))
        for _ in 0..<60 { _ = try client.predict([("image", "g.png", garbage)]) }
        let before = server.residentKiB
        for _ in 0..<300 { XCTAssertEqual(try client.predict([("image", "g.png", garbage)]).status, 422) }
        let after = server.residentKiB
        // Under AddressSanitizer (scripts/test.sh's second pass) freed memory waits in ASan's
        // quarantine, so RSS grows by design; there ASan itself checks the memory.
        if ProcessInfo.processInfo.environment["ASAN_OPTIONS"] == nil {
            XCTAssertLessThan(after - before, 8 * 1024, "RSS grew from \(before) to \(after) KiB over 300 corrupt uploads (19 MiB of bodies)")
        }

        // Still serving; the errors were counted.
        XCTAssertEqual(try client.send("GET", "/health").status, 200)
        let metrics = try client.send("GET", "/metrics").text
        XCTAssertTrue(metrics.contains("fusionlab_request_errors_total{endpoint=\"/v1/predict\",status=\"422\"} 363"), metrics)
        XCTAssertTrue(server.process.isRunning)
    }

    /// Opens a connection that sends a predict request's headers and the first bytes of its
    /// body, then stalls (a trickling client); returns the socket.
    func stalledUpload(port: Int) throws -> Int32 {
        let fd = try LoopbackHTTP.connect(port: port)
        let head = "POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n"
        _ = head.withCString { Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        return fd
    }

    /// The status line's code of what `fd` receives within `seconds` (0: nothing).
    func statusReceived(_ fd: Int32, within seconds: Int) -> Int {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = recv(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return 0 }
        return Int(String(decoding: buffer[0..<n], as: UTF8.self).split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    func testSlowUploadsDoNotStarveFastRequestsAndSIGTERMEndsOnTime() throws {
        let run = try servedRun()
        let text = [("text", nil as String?, Data("a photo with a round shape".utf8))]
        // 40 stalled uploads: fast requests are still answered at once (uploads have their own
        // places, apart from the model's), the stalled ones get 408 at the body deadline.
        let server = try startServer(run, ["--body-timeout-ms", "1500", "--max-concurrent", "4"])
        let stalled = try (0..<40).map { _ in try stalledUpload(port: server.port) }
        defer { stalled.forEach { close($0) } }
        usleep(200_000)
        for _ in 0..<6 {
            let started = Date()
            let reply = try server.client.predict(text)
            XCTAssertEqual(reply.status, 200, reply.text)
            XCTAssertLessThan(Date().timeIntervalSince(started), 1.0, "a fast request waited behind stalled uploads")
        }
        XCTAssertEqual(statusReceived(stalled[0], within: 5), 408, "a stalled upload ends at the body deadline")

        // A small upload limit: past it, a 503 that says why; and SIGTERM with uploads stalled
        // for longer than the drain limit still ends the server on time.
        let limited = try startServer(run, ["--max-uploading", "2", "--body-timeout-ms", "60000", "--drain-seconds", "1.5"])
        let holders = try (0..<2).map { _ in try stalledUpload(port: limited.port) }
        defer { holders.forEach { close($0) } }
        usleep(200_000)
        let refused = try limited.client.predict(text)
        XCTAssertEqual(refused.status, 503, refused.text)
        XCTAssertTrue(refused.text.contains("receiving 2 uploads"), refused.text)
        let signalled = Date()
        kill(limited.process.processIdentifier, SIGTERM)
        limited.process.waitUntilExit()
        let took = Date().timeIntervalSince(signalled)
        XCTAssertLessThan(took, 4, "SIGTERM must end the server within the drain limit (1.5 s), took \(took) s")
        XCTAssertEqual(limited.process.terminationReason, .exit)
    }

    func testServeDrainsInFlightRequestsOnSIGTERM() throws {
        let run = try servedRun()
        // Three requests wait in the batch window for a fourth whose upload pauses halfway
        // through SIGTERM: all four are answered, then the server exits 0.
        let server = try startServer(run, ["--max-wait-ms", "3000", "--max-batch", "64"])
        let client = server.client
        let lock = NSLock()
        nonisolated(unsafe) var statuses: [Int] = []
        let pid = server.process.processIdentifier
        LoopbackHTTP.concurrently(5) { i in
            guard i < 4 else {
                usleep(250_000)  // the four wait in the batch window
                kill(pid, SIGTERM)
                return
            }
            let status = (try? client.predict([("text", nil, Data(String(repeating: "a photo with a round shape ", count: 20).utf8))],
                                              pause: i == 0 ? 0.6 : 0))?.status ?? -1
            lock.lock(); statuses.append(status); lock.unlock()
        }
        server.process.waitUntilExit()
        XCTAssertEqual(statuses, [200, 200, 200, 200], "requests in flight at SIGTERM must be answered")
        XCTAssertEqual(server.process.terminationStatus, 0)
        XCTAssertEqual(server.process.terminationReason, .exit)
    }

    func testStandardClientsFormJSONAndBatchesWorkAndTheAPIIsDescribed() throws {
        let run = try servedRun()
        let server = try startServer(run)
        let client = server.client
        let files = sampleFiles("s00001")
        // multipart (as curl -F), the reference answer.
        let reference = try client.predict([("text", nil, Data("a photo".utf8)), ("image", "a.png", files.image)])
        XCTAssertEqual(reference.status, 200, reference.text)
        // application/x-www-form-urlencoded (requests.post(url, data=...)), image as base64.
        let encoded = "text=a+photo&image=" + (files.image.base64EncodedString().addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
        let form = try client.send("POST", "/v1/predict", headers: ["Content-Type: application/x-www-form-urlencoded"], body: Data(encoded.utf8))
        XCTAssertEqual(form.status, 200, form.text)
        XCTAssertEqual(form.json["label"] as? String, reference.json["label"] as? String)
        for (k, v) in reference.json["probabilities"] as? [String: Double] ?? [:] {
            XCTAssertEqual((form.json["probabilities"] as? [String: Double])?[k] ?? -1, v, accuracy: 1e-6, k)
        }
        // application/json: one sample, and a batch of three answered in order.
        let one = try JSONSerialization.data(withJSONObject: ["text": "a photo", "image": files.image.base64EncodedString()])
        let single = try client.send("POST", "/v1/predict", headers: ["Content-Type: application/json"], body: one)
        XCTAssertEqual(single.status, 200, single.text)
        XCTAssertEqual(single.json["label"] as? String, reference.json["label"] as? String)
        let batch = try JSONSerialization.data(withJSONObject: ["samples": [
            ["text": "a photo", "image": files.image.base64EncodedString()], ["text": "a round shape"], ["audio": files.audio.base64EncodedString()],
        ]])
        let answered = try client.send("POST", "/v1/predict", headers: ["Content-Type: application/json"], body: batch)
        XCTAssertEqual(answered.status, 200, answered.text)
        let predictions = try XCTUnwrap(answered.json["predictions"] as? [[String: Any]])
        XCTAssertEqual(predictions.count, 3)
        XCTAssertEqual(predictions.first?["label"] as? String, reference.json["label"] as? String)
        XCTAssertEqual(predictions.map { $0["modalities"] as? [String] ?? [] }, [["text", "image"], ["text"], ["audio"]])
        let bad = try client.send("POST", "/v1/predict", headers: ["Content-Type: application/json"],
                                  body: Data(#"{"samples": [{"text": "x"}, {"image": "not base64!"}]}"#.utf8))
        XCTAssertEqual(bad.status, 400, bad.text)
        XCTAssertTrue(bad.text.contains("samples[1].image"), bad.text)

        // /openapi.json (OpenAPI 3.1, checked by openapi-spec-validator when fetched) and /docs.
        let api = try client.send("GET", "/openapi.json")
        XCTAssertEqual(api.status, 200)
        XCTAssertEqual(api.json["openapi"] as? String, "3.1.0")
        let docs = try client.send("GET", "/docs")
        XCTAssertTrue(docs.text.contains("POST /v1/predict") && docs.text.contains("/openapi.json"), docs.text)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let tools = root.appendingPathComponent(".build/openapi-python").path
        if FileManager.default.fileExists(atPath: tools + "/openapi_spec_validator") {
            let spec = Self.workspace.appendingPathComponent("openapi.json")
            try api.body.write(to: spec)
            var env = ProcessInfo.processInfo.environment
            env["PYTHONPATH"] = tools
            let check = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c",
                "import json, sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1]))); print('valid')", spec.path],
                environment: env)
            XCTAssertEqual(check.status, 0, check.err)
            XCTAssertTrue(check.out.contains("valid"), check.out + check.err)
        } else {
            print("openapi-spec-validator not found in \(tools) (scripts/fetch-python-tools.sh openapi openapi-spec-validator): the spec check is skipped")
        }

        // A port in use: one line that says so.
        let taken = try fusionlab(["serve", run, "--port", "\(server.port)"])
        XCTAssertEqual(taken.status, 1)
        XCTAssertTrue(taken.err.contains("port \(server.port) on 127.0.0.1 is already in use"), taken.err)
        XCTAssertFalse(taken.err.contains("errno"), taken.err)
    }
}
