// What each key's value looks like, declared on the key's `Field` next to the reader that checks it.
// `ConfigSchema` turns the key tables and these shapes into the JSON Schema editors use, so the schema
// is made from the parser's own tables: a key cannot be added without a shape (the `Field` initialiser
// requires one), and `ConfigSchemaTests` feeds a sample of every key's shape and a wrong value through both the
// parser and the schema, which must agree.

/// The shape of a configuration value: what the JSON Schema says about it, and a sample the parser accepts.
public struct ValueShape: Sendable {
    /// The shape kinds. Patterns are ECMA-262 regular expressions (the JSON Schema dialect), kept to the
    /// subset Python's `re` reads the same way.
    indirect enum Kind: Sendable {
        /// Any scalar's text; `minLength: 1` when it must not be empty.
        case text(nonEmpty: Bool)
        /// Text matching a regular expression; `hint` is the human form, for the description, and
        /// `sample` a text the parser accepts.
        case pattern(String, hint: String, sample: String)
        /// `250ms`, `2s`, `5m`, `1h`, `1m30s`; `0` too when zero is allowed.
        case duration(allowingZero: Bool)
        /// Bytes as a number, or a number with a binary unit (`32KiB`).
        case size(ClosedRange<Int64>)
        case integer(ClosedRange<Int>)
        /// A decimal number (`0.05`, `1.5`); no maximum when the range is open above.
        case number(ClosedRange<Double>)
        /// `50` or `50%`, 0 to 100.
        case percent
        /// `true` or `false`.
        case boolean
        /// One of these words.
        case words([String])
        /// `host:port`, IPv6 in brackets.
        case hostPort
        /// An `http://` or `https://` URL.
        case url
        case list(ValueShape, nonEmpty: Bool)
        /// A mapping whose keys are the fields.
        case mapping([FieldSpec])
        /// A mapping from names the user chooses (plain tokens) to values of one shape.
        case named(ValueShape, nonEmpty: Bool)
        /// Any one of these shapes.
        case anyOf([ValueShape])
    }

    let kind: Kind

    init(_ kind: Kind) {
        self.kind = kind
    }

    /// Any text, possibly empty.
    public static let text = ValueShape(.text(nonEmpty: false))
    /// Text with at least one character.
    public static let nonEmptyText = ValueShape(.text(nonEmpty: true))
    /// A duration greater than zero.
    public static let duration = ValueShape(.duration(allowingZero: false))
    /// A duration, or `0`.
    public static let durationOrZero = ValueShape(.duration(allowingZero: true))
    public static let percent = ValueShape(.percent)
    public static let boolean = ValueShape(.boolean)
    public static let hostPort = ValueShape(.hostPort)
    public static let url = ValueShape(.url)
    /// Letters, digits, `-`, `.` and `_` (``ValueSyntax/isToken(_:)``).
    public static let token = pattern("^[A-Za-z0-9._-]+$", hint: "letters, digits, '-', '.' and '_'", sample: "a")
    /// A path starting with `/`, without spaces, `?` or `#`.
    public static let pathPrefix = pattern("^/[^\\s?#]*$", hint: "a path starting with '/'", sample: "/a")
    /// An HTTP status (`200`), a class (`2xx`) or a range (`200-299`).
    public static let statusRange = anyOf(
        .integer(100...599),
        .pattern("^([1-5]xx|[1-5][0-9][0-9](-[1-5][0-9][0-9])?)$", hint: "200, 2xx or 200-299", sample: "2xx"))

    public static func pattern(_ regex: String, hint: String, sample: String) -> ValueShape {
        ValueShape(.pattern(regex, hint: hint, sample: sample))
    }
    public static func size(_ range: ClosedRange<Int64>) -> ValueShape { ValueShape(.size(range)) }
    public static func integer(_ range: ClosedRange<Int>) -> ValueShape { ValueShape(.integer(range)) }
    public static func number(_ range: ClosedRange<Double>) -> ValueShape { ValueShape(.number(range)) }
    /// A fraction of one, written `0.05` or `5%` (the parser checks the bounds of the percent form).
    public static func ratio(_ range: ClosedRange<Double> = 0...1) -> ValueShape {
        .anyOf(.number(range), .pattern("^[0-9]+(\\.[0-9]+)?%$", hint: "a percentage such as 5%", sample: "5%"))
    }
    public static func words(_ words: [String]) -> ValueShape { ValueShape(.words(words)) }
    /// The raw values of an enumeration the reader parses with ``Value/choice(_:of:)``.
    public static func choice<Choice: CaseIterable & RawRepresentable<String>>(_: Choice.Type) -> ValueShape {
        ValueShape(.words(Choice.allCases.map(\.rawValue)))
    }
    public static func list(of element: ValueShape, nonEmpty: Bool = false) -> ValueShape {
        ValueShape(.list(element, nonEmpty: nonEmpty))
    }
    static func mapping<Draft>(_ fields: [Field<Draft>]) -> ValueShape { ValueShape(.mapping(fields.map(\.spec))) }
    public static func named(_ value: ValueShape, nonEmpty: Bool = false) -> ValueShape {
        ValueShape(.named(value, nonEmpty: nonEmpty))
    }
    public static func anyOf(_ shapes: ValueShape...) -> ValueShape { ValueShape(.anyOf(shapes)) }
}

/// A key of a mapping as the schema sees it: the part of a ``Field`` that does not depend on the draft.
public struct FieldSpec: Sendable {
    public let key: String
    public let required: Bool
    public let shape: ValueShape
    /// What the key does, for editors' hover text; nil when the key says it all.
    public let doc: String?
}
