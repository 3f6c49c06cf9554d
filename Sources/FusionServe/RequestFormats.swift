import Foundation
import FusionData
import FusionExperiments

/// The request bodies `POST /v1/predict` takes, so standard clients work as they are:
///
/// - `multipart/form-data`: fields `text`, `image` and `audio` (files), as `curl -F`;
/// - `application/x-www-form-urlencoded`: `text=…`, and `image`/`audio` as base64 (as
///   `requests.post(url, data={"text": "seven"})` sends);
/// - `application/json`: `{"text": "…", "image": "<base64>", "audio": "<base64>"}`, or a batch
///   `{"samples": [{…}, …]}` (at most `--max-batch` samples) answered with `{"predictions": […]}`.
enum RequestFormat {
    case multipart(boundary: String), urlencoded, json

    /// The format of a Content-Type, or nil when it is none of them.
    init?(contentType: String?) {
        guard let contentType else { return nil }
        let type = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        switch type {
        case "multipart/form-data":
            guard let boundary = MultipartForm.boundary(contentType: contentType) else { return nil }
            self = .multipart(boundary: boundary)
        case "application/x-www-form-urlencoded": self = .urlencoded
        case "application/json": self = .json
        default: return nil
        }
    }

    /// The samples of a body, the modalities each carries, and whether it was a batch.
    func samples(_ body: Data, accepted: [String], maxSamples: Int) throws -> (samples: [RawSample], present: [Set<String>], batch: Bool) {
        switch self {
        case .multipart(let boundary):
            let form: MultipartForm
            do { form = try MultipartForm(body: body, boundary: boundary) } catch {
                throw RequestError(status: .badRequest, message: "\(error)")
            }
            let fields = form.parts.map { part in
                (name: part.name, label: part.filename.map { "\(part.name) upload \"\($0)\"" } ?? "\(part.name) upload", value: part.body)
            }
            let (sample, present) = try Self.sample(fields, accepted: accepted, context: "")
            return ([sample], [present], false)
        case .urlencoded:
            guard let text = String(data: body, encoding: .utf8) else { throw RequestError(status: .badRequest, message: "the form body is not UTF-8") }
            var fields: [(name: String, label: String, value: Data)] = []
            for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                func decode(_ s: Substring) -> String? { s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding }
                guard let name = decode(parts[0]), let value = parts.count > 1 ? decode(parts[1]) : "" else {
                    throw RequestError(status: .badRequest, message: "malformed percent-encoding in the form field \"\(parts[0])\"")
                }
                fields.append((name, "\(name) field", try Self.bytes(name: name, value: value, context: "")))
            }
            let (sample, present) = try Self.sample(fields, accepted: accepted, context: "")
            return ([sample], [present], false)
        case .json:
            let object: Any
            do { object = try JSONSerialization.jsonObject(with: body) } catch {
                throw RequestError(status: .badRequest, message: "the body is not valid JSON: \(error.localizedDescription)")
            }
            guard let dict = object as? [String: Any] else { throw RequestError(status: .badRequest, message: "expected a JSON object") }
            if let list = dict["samples"] {
                guard let samples = list as? [[String: Any]], !samples.isEmpty else {
                    throw RequestError(status: .badRequest, message: "\"samples\": expected a non-empty array of objects")
                }
                guard samples.count <= maxSamples else {
                    throw RequestError(status: .contentTooLarge, message: "\"samples\": \(samples.count) samples; at most \(maxSamples) a request (--max-batch)")
                }
                guard dict.count == 1 else { throw RequestError(status: .badRequest, message: "a batch has only \"samples\"; unexpected \(dict.keys.filter { $0 != "samples" }.sorted())") }
                var out: [RawSample] = [], present: [Set<String>] = []
                for (i, s) in samples.enumerated() {
                    let (sample, fields) = try Self.sample(try Self.jsonFields(s, context: "samples[\(i)]."), accepted: accepted, context: "samples[\(i)]: ")
                    out.append(sample); present.append(fields)
                }
                return (out, present, true)
            }
            let (sample, present) = try Self.sample(try Self.jsonFields(dict, context: ""), accepted: accepted, context: "")
            return ([sample], [present], false)
        }
    }

    /// A JSON sample's fields: `text` a string, `image` and `audio` base64 strings.
    static func jsonFields(_ object: [String: Any], context: String) throws -> [(name: String, label: String, value: Data)] {
        try object.keys.sorted().map { name in
            guard let value = object[name] as? String else {
                throw RequestError(status: .badRequest, message: "\"\(context)\(name)\": expected a string (text, or base64 for image and audio)")
            }
            return (name, "\(context)\(name)", try bytes(name: name, value: value, context: context))
        }
    }

    /// A field's bytes: text as UTF-8, image and audio decoded from base64.
    static func bytes(name: String, value: String, context: String) throws -> Data {
        guard name == "image" || name == "audio" else { return Data(value.utf8) }
        guard let data = Data(base64Encoded: value, options: .ignoreUnknownCharacters), !data.isEmpty else {
            throw RequestError(status: .badRequest, message: "\"\(context)\(name)\": expected the file's bytes as base64")
        }
        return data
    }

    /// One sample from named fields, checked against the model's modalities.
    static func sample(_ fields: [(name: String, label: String, value: Data)], accepted: [String], context: String) throws -> (RawSample, Set<String>) {
        var raw = RawSample()
        var seen = Set<String>()
        for field in fields {
            guard seen.insert(field.name).inserted else { throw RequestError(status: .badRequest, message: "\(context)field \"\(field.name)\" is given twice") }
            guard accepted.contains(field.name) else {
                let known = ["text", "image", "audio"].contains(field.name)
                throw RequestError(status: .badRequest, message: context + (known
                    ? "this model takes \(accepted.joined(separator: ", ")); field \"\(field.name)\" is not one of them"
                    : "unknown field \"\(field.name)\"; expected \(accepted.joined(separator: ", "))"))
            }
            switch field.name {
            case "image": (raw.image, raw.imageName) = (field.value, field.label)
            case "audio": (raw.audio, raw.audioName) = (field.value, field.label)
            default:
                guard let text = String(data: field.value, encoding: .utf8) else { throw RequestError(status: .badRequest, message: "\(context)field \"text\" is not UTF-8") }
                raw.text = text
            }
        }
        guard !seen.isEmpty else { throw RequestError(status: .badRequest, message: "\(context)no field: give at least one of \(accepted.joined(separator: ", "))") }
        return (raw, seen)
    }
}

/// The server's OpenAPI 3.1 description (`GET /openapi.json`) and a small page made from it
/// (`GET /docs`).
enum ServeAPI {
    /// The OpenAPI document of this server and model.
    static func document(model: InferenceModel, options: ServeOptions) -> [String: Any] {
        let modalities = model.modalities.map(\.rawValue)
        var fields: [String: Any] = [:]
        var jsonFields: [String: Any] = [:]
        for m in modalities {
            switch m {
            case "text":
                fields[m] = ["type": "string", "description": "The caption."]
                jsonFields[m] = ["type": "string", "description": "The caption."]
            default:
                fields[m] = ["type": "string", "format": "binary", "description": m == "image" ? "A PNG or JPEG file." : "An audio file (WAV, FLAC, OGG, MP3…)."]
                jsonFields[m] = ["type": "string", "contentEncoding": "base64", "description": m == "image" ? "A PNG or JPEG file, base64." : "An audio file, base64."]
            }
        }
        let sample: [String: Any] = ["type": "object", "properties": jsonFields, "additionalProperties": false, "minProperties": 1]
        let answer: [String: Any] = [
            "type": "object", "required": ["label", "probabilities", "modalities", "model"],
            "properties": [
                "label": ["type": "string", "enum": model.classNames],
                "probabilities": ["type": "object", "additionalProperties": ["type": "number"]],
                "modalities": ["type": "array", "items": ["type": "string"]],
                "prediction_set": ["type": "array", "items": ["type": "string"], "description": "The conformal prediction set (runs with evaluation.conformal_alpha)."],
                "model": ["$ref": "#/components/schemas/ModelVersion"],
            ],
        ]
        let error: [String: Any] = ["description": "An error, with the reason", "content": ["application/json": ["schema": ["$ref": "#/components/schemas/Error"]]]]
        func ok(_ schema: [String: Any], _ description: String) -> [String: Any] {
            ["description": description, "content": ["application/json": ["schema": schema]]]
        }
        let predict: [String: Any] = [
            "summary": "Predict the class of one sample, or of a batch (JSON `samples`)",
            "operationId": "predict",
            "requestBody": ["required": true, "content": [
                "multipart/form-data": ["schema": ["type": "object", "properties": fields]],
                "application/x-www-form-urlencoded": ["schema": ["type": "object", "properties": jsonFields]],
                "application/json": ["schema": ["oneOf": [
                    ["$ref": "#/components/schemas/Sample"],
                    ["type": "object", "required": ["samples"], "additionalProperties": false,
                     "properties": ["samples": ["type": "array", "minItems": 1, "maxItems": options.maxBatch, "items": ["$ref": "#/components/schemas/Sample"]]]],
                ]]],
            ]],
            "responses": [
                "200": ["description": "The prediction (a batch: `predictions`, one per sample, in order)", "content": ["application/json": ["schema": ["oneOf": [
                    ["$ref": "#/components/schemas/Prediction"],
                    ["type": "object", "required": ["predictions"], "properties": ["predictions": ["type": "array", "items": ["$ref": "#/components/schemas/Prediction"]],
                                                                                    "model": ["$ref": "#/components/schemas/ModelVersion"]]],
                ]]]]],
                "400": error, "408": error, "413": error, "415": error, "422": error, "503": error,
            ],
        ]
        return [
            "openapi": "3.1.0",
            "info": ["title": "FusionLab model \(model.version)", "version": model.version,
                     "description": "A FusionLab run's model (`fusionlab serve`): classes \(model.classNames.joined(separator: ", ")); modalities \(modalities.joined(separator: ", "))."],
            "paths": [
                "/v1/predict": ["post": predict],
                "/v1/model": ["get": ["summary": "The model, its classes and the preprocessing a client repeats", "operationId": "model",
                                      "responses": ["200": ok(["type": "object"], "The model description")]]],
                "/health": ["get": ["summary": "Liveness, the model's version, classes and modalities", "operationId": "health",
                                    "responses": ["200": ok(["type": "object"], "Serving")]]],
                "/metrics": ["get": ["summary": "Prometheus metrics", "operationId": "metrics",
                                     "responses": ["200": ["description": "Prometheus text format", "content": ["text/plain": ["schema": ["type": "string"]]]]]]],
            ],
            "components": ["schemas": [
                "Sample": sample,
                "Prediction": answer,
                "ModelVersion": ["type": "object", "properties": ["version": ["type": "string"], "run": ["type": "string"]]],
                "Error": ["type": "object", "required": ["error"], "properties": ["error": ["type": "object", "properties": [
                    "status": ["type": "integer"], "message": ["type": "string"]]]]],
            ]],
        ]
    }

    /// A page listing the operations of `document`, with a curl example.
    static func html(_ document: [String: Any]) -> String {
        func escape(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        let info = document["info"] as? [String: Any] ?? [:]
        var page = "<!doctype html><html><head><meta charset=\"utf-8\"><title>\(escape(info["title"] as? String ?? "FusionLab"))</title>"
            + "<style>body{font-family:sans-serif;max-width:50em;margin:2em auto}code,pre{background:#f4f4f4}</style></head><body>"
            + "<h1>\(escape(info["title"] as? String ?? ""))</h1><p>\(escape(info["description"] as? String ?? ""))</p>"
            + "<p>The machine-readable description: <a href=\"/openapi.json\">/openapi.json</a> (OpenAPI 3.1).</p><ul>"
        let paths = document["paths"] as? [String: [String: [String: Any]]] ?? [:]
        for path in paths.keys.sorted() {
            for (method, operation) in paths[path] ?? [:] {
                page += "<li><code>\(method.uppercased()) \(escape(path))</code>: \(escape(operation["summary"] as? String ?? ""))</li>"
            }
        }
        page += "</ul><h2>Example</h2><pre>curl -F text=\"a red square\" -F image=@cat.png http://HOST/v1/predict\n"
            + "curl -H 'Content-Type: application/json' -d '{\"samples\": [{\"text\": \"seven\"}, {\"text\": \"three\"}]}' http://HOST/v1/predict</pre></body></html>"
        return page
    }
}
