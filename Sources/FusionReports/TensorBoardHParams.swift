import Foundation

/// TensorBoard's HParams plugin data (`tensorboard/plugins/hparams/plugin_data.proto`, `api.proto`),
/// encoded by hand, so that the HParams dashboard tabulates a comparison's or sweep's variants
/// against their metrics:
///
/// ```
/// message HParamsPluginData { int32 version = 1; Experiment experiment = 2;
///                             SessionStartInfo session_start_info = 3; SessionEndInfo session_end_info = 4; }
/// message Experiment        { repeated HParamInfo hparam_infos = 4; repeated MetricInfo metric_infos = 5; string name = 6; }
/// message HParamInfo        { string name = 1; DataType type = 4; }        // STRING 1, BOOL 2, FLOAT64 3
/// message MetricInfo        { MetricName name = 1; }   message MetricName { string group = 1; string tag = 2; }
/// message SessionStartInfo  { map<string, google.protobuf.Value> hparams = 1; string group_name = 4; double start_time_secs = 5; }
/// message SessionEndInfo    { Status status = 1; double end_time_secs = 2; }  // SUCCESS 1
/// ```
/// Each is the `content` of a summary value tagged `_hparams_/experiment`,
/// `_hparams_/session_start_info` or `_hparams_/session_end_info`, plugin `hparams`, holding an
/// empty float tensor, as the plugin's own writer does.
public enum HParams {
    /// A hyper-parameter's value.
    public enum Value: Equatable, Sendable {
        case string(String), number(Double), bool(Bool)

        /// google.protobuf.Value: number_value = 2, string_value = 3, bool_value = 4.
        var encoded: [UInt8] {
            var out = ProtobufWriter()
            switch self {
            case .number(let d): out.fixed64(field: 2, d.bitPattern)
            case .string(let s): out.bytes(field: 3, Array(s.utf8))
            case .bool(let b): out.varint(field: 4, b ? 1 : 0)
            }
            return out.bytes
        }

        /// HParamInfo's DataType for this kind of value.
        var dataType: UInt64 {
            switch self { case .string: 1; case .bool: 2; case .number: 3 }
        }
    }

    /// The experiment: each hyper-parameter's name and type (from an example value), and the metric tags.
    public static func experimentContent(hparams: [(name: String, example: Value)], metrics: [String]) -> [UInt8] {
        var experiment = ProtobufWriter()
        for (name, example) in hparams {
            var info = ProtobufWriter()
            info.bytes(field: 1, Array(name.utf8))
            info.varint(field: 4, example.dataType)
            experiment.bytes(field: 4, info.bytes)
        }
        for tag in metrics {
            var metricName = ProtobufWriter()
            metricName.bytes(field: 2, Array(tag.utf8))
            var info = ProtobufWriter()
            info.bytes(field: 1, metricName.bytes)
            experiment.bytes(field: 5, info.bytes)
        }
        var data = ProtobufWriter()
        data.bytes(field: 2, experiment.bytes)
        return data.bytes
    }

    /// One session (run): its hyper-parameter values (in key order) and group.
    public static func sessionStartContent(_ values: [String: Value], group: String, startTime: Double) -> [UInt8] {
        var start = ProtobufWriter()
        for key in values.keys.sorted() {
            guard let value = values[key] else { continue }
            var entry = ProtobufWriter()
            entry.bytes(field: 1, Array(key.utf8))
            entry.bytes(field: 2, value.encoded)
            start.bytes(field: 1, entry.bytes)
        }
        if !group.isEmpty { start.bytes(field: 4, Array(group.utf8)) }
        start.fixed64(field: 5, startTime.bitPattern)
        var data = ProtobufWriter()
        data.bytes(field: 3, start.bytes)
        return data.bytes
    }

    /// The end of a successful session.
    public static func sessionEndContent(endTime: Double) -> [UInt8] {
        var end = ProtobufWriter()
        end.varint(field: 1, 1)
        end.fixed64(field: 2, endTime.bitPattern)
        var data = ProtobufWriter()
        data.bytes(field: 4, end.bytes)
        return data.bytes
    }

    /// An Event holding one summary value of the plugin: tag, the empty float tensor, and the
    /// metadata with the content.
    static func event(tag: String, content: [UInt8], wallTime: Double) -> [UInt8] {
        var pluginData = ProtobufWriter()
        pluginData.bytes(field: 1, Array("hparams".utf8))
        pluginData.bytes(field: 2, content)
        var metadata = ProtobufWriter()
        metadata.bytes(field: 1, pluginData.bytes)
        var value = ProtobufWriter()
        value.bytes(field: 1, Array(tag.utf8))
        value.bytes(field: 8, [0x08, 0x01, 0x12, 0x02, 0x12, 0x00])  // TensorProto: DT_FLOAT, shape [0]
        value.bytes(field: 9, metadata.bytes)
        var summary = ProtobufWriter()
        summary.bytes(field: 1, value.bytes)
        var event = ProtobufWriter()
        event.fixed64(field: 1, wallTime.bitPattern)
        event.bytes(field: 5, summary.bytes)
        return event.bytes
    }
}

extension TensorBoardWriter {
    /// Declares the HParams experiment: the hyper-parameters compared and the metrics to show.
    public func hparamsExperiment(hparams: [(name: String, example: HParams.Value)], metrics: [String]) throws {
        record(HParams.event(tag: "_hparams_/experiment", content: HParams.experimentContent(hparams: hparams, metrics: metrics),
                             wallTime: Date().timeIntervalSince1970))
    }

    /// Records one run's hyper-parameter values (start and successful end of its session).
    public func hparamsSession(_ values: [String: HParams.Value], group: String) throws {
        let now = Date().timeIntervalSince1970
        record(HParams.event(tag: "_hparams_/session_start_info", content: HParams.sessionStartContent(values, group: group, startTime: now),
                             wallTime: now))
        record(HParams.event(tag: "_hparams_/session_end_info", content: HParams.sessionEndContent(endTime: now), wallTime: now))
    }
}

extension TensorBoardWriter {
    /// A text summary (TensorBoard's Text dashboard), rendered as Markdown: a string tensor with
    /// the `text` plugin's metadata.
    public func text(_ tag: String, _ markdown: String, step: Int = 0) throws {
        var pluginData = ProtobufWriter()
        pluginData.bytes(field: 1, Array("text".utf8))
        var metadata = ProtobufWriter()
        metadata.bytes(field: 1, pluginData.bytes)
        var tensor = ProtobufWriter()
        tensor.varint(field: 1, 7)  // DT_STRING
        tensor.bytes(field: 2, [])  // a scalar: TensorShapeProto without dimensions
        tensor.bytes(field: 8, Array(markdown.utf8))
        var value = ProtobufWriter()
        value.bytes(field: 1, Array(tag.utf8))
        value.bytes(field: 8, tensor.bytes)
        value.bytes(field: 9, metadata.bytes)
        var summary = ProtobufWriter()
        summary.bytes(field: 1, value.bytes)
        var event = ProtobufWriter()
        event.fixed64(field: 1, Date().timeIntervalSince1970.bitPattern)
        if step != 0 { event.varint(field: 2, UInt64(bitPattern: Int64(step))) }
        event.bytes(field: 5, summary.bytes)
        record(event.bytes)
    }
}
