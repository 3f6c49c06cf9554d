/// An experiment option with its documentation written on the declaration itself:
/// `@Doc("Samples per batch.") public var batchSize = 32`. The text is what the JSON Schema,
/// docs/experiment-format.md and `fusionlab schema --key <key>` show, beside the default (the
/// initial value) and the allowed values (the option's enum), so the three cannot drift apart.
/// In JSON the option is its value alone; equality compares values only.
@propertyWrapper
public struct Doc<Value: Codable & Equatable & Sendable>: Codable, Equatable, Sendable, DocumentedOption {
    /// The option's value.
    public var wrappedValue: Value
    /// What the option does (empty on a decoded value: documentation belongs to the defaults).
    public let documentation: String

    /// An option whose default is `wrappedValue`, documented by `documentation`.
    public init(wrappedValue: Value, _ documentation: String) {
        self.wrappedValue = wrappedValue
        self.documentation = documentation
    }

    /// Decodes the bare value.
    public init(from decoder: Decoder) throws {
        wrappedValue = try Value(from: decoder)
        documentation = ""
    }

    /// Encodes the bare value.
    public func encode(to encoder: Encoder) throws { try wrappedValue.encode(to: encoder) }

    /// Options are equal when their values are.
    public static func == (a: Doc, b: Doc) -> Bool { a.wrappedValue == b.wrappedValue }

    /// The value, type-erased, for the schema generator.
    public var documentedValue: Any { wrappedValue }
}

/// What the schema generator reads from a `Doc` through reflection.
public protocol DocumentedOption {
    /// What the option does.
    var documentation: String { get }
    /// Its value.
    var documentedValue: Any { get }
}
