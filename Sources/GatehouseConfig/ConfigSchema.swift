import GatehouseErrors

/// The JSON Schemas (draft 2020-12) of the configuration files, generated from the parser's own key
/// tables (`RootDraft.fields`, `MonitorDraft.fields` and every table they nest), for editors: the YAML
/// language server completes keys, shows their descriptions and flags unknown keys and wrong types.
///
/// The schema is a little stricter than the parser where YAML types are concerned (a quoted `"5"`
/// for an integer is read by the parser but flagged by the schema) and looser where a check spans
/// keys (`hash_on` needs `balance: consistent_hash`): those remain `gatehouse check`'s job.
public enum ConfigSchema {
    /// The schema of a gateway file (`gatehouse.yaml`), as `gatehouse schema` prints it.
    public static var gatehouse: String {
        self.document(
            RootDraft.fields, title: "Gatehouse configuration",
            description: "The configuration of the Gatehouse reverse proxy; check a file with gatehouse check -c FILE.")
    }

    /// The schema of a monitor file (`monitor.yaml`), as `gatehouse schema --monitor` prints it.
    public static var monitor: String {
        self.document(
            MonitorDraft.fields, title: "Gatehouse monitor configuration",
            description: "The targets of gatehouse monitor: URLs probed hop by hop, with alerts.")
    }

    static func document<Draft>(_ fields: [Field<Draft>], title: String, description: String) -> String {
        var root: [(String, JSON)] = [
            ("$schema", .string("https://json-schema.org/draft/2020-12/schema")),
            ("title", .string(title)),
            ("description", .string(description)),
        ]
        if case .object(let members) = self.json(.mapping(fields)) { root += members }
        return JSON.object(root).rendered(indent: "") + "\n"
    }

    static func json(_ shape: ValueShape) -> JSON {
        switch shape.kind {
        case .text(let nonEmpty):
            return .object([("type", .string("string"))] + (nonEmpty ? [("minLength", .integer(1))] : []))
        case .pattern(let regex, let hint, _):
            return .object([("type", .string("string")), ("pattern", .string(regex)), ("$comment", .string(hint))])
        case .duration(let allowingZero):
            // Zero is refused by the parser (every limit is a real limit), so the pattern refuses it too.
            let duration = "(?!(0+(ms|s|m|h))+$)([0-9]+(ms|s|m|h))+"
            return .object([
                ("type", .string("string")),
                ("pattern", .string(allowingZero ? "^(0|\(duration))$" : "^\(duration)$")),
                ("$comment", .string("a duration with a unit: 250ms, 2s, 5m, 1h, 1m30s")),
            ])
        case .size(let range):
            return .object([
                (
                    "anyOf",
                    .array([
                        self.integer(Int64(range.lowerBound), range.upperBound),
                        .object([
                            ("type", .string("string")), ("pattern", .string("^[0-9]+([bB]|[kKmMgG]([iI]?[bB])?)?$")),
                            ("$comment", .string("bytes, or a number with a unit: 32KiB, 1MiB, 1GiB (powers of 1024)")),
                        ]),
                    ])
                )
            ])
        case .integer(let range):
            return self.integer(Int64(range.lowerBound), Int64(range.upperBound))
        case .number(let range):
            var members: [(String, JSON)] = [("type", .string("number")), ("minimum", .number(range.lowerBound))]
            if range.upperBound.isFinite { members.append(("maximum", .number(range.upperBound))) }
            return .object(members)
        case .percent:
            return .object([
                (
                    "anyOf",
                    .array([
                        self.integer(0, 100),
                        .object([("type", .string("string")), ("pattern", .string("^(100|[1-9]?[0-9])%?$"))]),
                    ])
                )
            ])
        case .boolean:
            return .object([("type", .string("boolean"))])
        case .words(let words):
            return .object([("type", .string("string")), ("enum", .array(words.map(JSON.string)))])
        case .hostPort:
            return .object([
                ("type", .string("string")),
                ("pattern", .string("^(\\[[0-9A-Fa-f:.]+\\]|[^\\s:\\[\\]/]+):[0-9]{1,5}$")),
                ("$comment", .string("host:port, IPv6 in brackets: 127.0.0.1:8080, [::1]:8080, app.internal:3000")),
            ])
        case .url:
            return .object([("type", .string("string")), ("pattern", .string("^[Hh][Tt][Tt][Pp][Ss]?://[^\\s]+$"))])
        case .list(let element, let nonEmpty):
            return .object(
                [("type", .string("array")), ("items", self.json(element))]
                    + (nonEmpty ? [("minItems", .integer(1))] : []))
        case .mapping(let fields):
            var members: [(String, JSON)] = [("type", .string("object"))]
            members.append(("properties", .object(fields.map { ($0.key, self.property($0)) })))
            let required = fields.filter(\.required).map { JSON.string($0.key) }
            if !required.isEmpty { members.append(("required", .array(required))) }
            members.append(("additionalProperties", .bool(false)))
            return .object(members)
        case .named(let value, let nonEmpty):
            // Names end up in metric labels and log fields: plain tokens, as the parser insists.
            return .object(
                [
                    ("type", .string("object")),
                    ("propertyNames", .object([("pattern", .string("^[A-Za-z0-9._-]+$"))])),
                    ("additionalProperties", self.json(value)),
                ] + (nonEmpty ? [("minProperties", .integer(1))] : []))
        case .anyOf(let shapes):
            return .object([("anyOf", .array(shapes.map(self.json)))])
        }
    }

    /// A key's schema with its description first, where hover text looks for it.
    static func property(_ field: FieldSpec) -> JSON {
        guard let doc = field.doc, case .object(let members) = self.json(field.shape) else {
            return self.json(field.shape)
        }
        return .object([("description", .string(doc))] + members)
    }

    /// An integer schema; a bound at the type's limit is no bound worth writing.
    static func integer(_ minimum: Int64, _ maximum: Int64) -> JSON {
        var members: [(String, JSON)] = [("type", .string("integer")), ("minimum", .integer(minimum))]
        if maximum != Int64.max { members.append(("maximum", .integer(maximum))) }
        return .object(members)
    }
}

/// A JSON value whose objects keep their members in the order written, so the generated file reads
/// like the key tables and diffs stay small.
indirect enum JSON {
    case string(String)
    case integer(Int64)
    case number(Double)
    case bool(Bool)
    case array([JSON])
    case object([(String, JSON)])

    /// Two-space indentation; arrays of scalars stay on one line.
    func rendered(indent: String) -> String {
        let inner = indent + "  "
        switch self {
        case .string(let text): return JSONText.quoted(text)
        case .integer(let number): return String(number)
        case .number(let number):
            return number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
        case .bool(let value): return value ? "true" : "false"
        case .array(let items):
            if items.allSatisfy(\.isScalar) {
                return "[" + items.map { $0.rendered(indent: inner) }.joined(separator: ", ") + "]"
            }
            return "[\n" + items.map { inner + $0.rendered(indent: inner) }.joined(separator: ",\n") + "\n\(indent)]"
        case .object(let members):
            if members.isEmpty { return "{}" }
            return "{\n"
                + members.map { inner + JSONText.quoted($0.0) + ": " + $0.1.rendered(indent: inner) }
                .joined(separator: ",\n") + "\n\(indent)}"
        }
    }

    var isScalar: Bool {
        switch self {
        case .string, .integer, .number, .bool: return true
        case .array, .object: return false
        }
    }
}
