import Yams

/// One key a mapping accepts, the shape of its value, and what to do with the value.
///
/// A mapping kind's schema is an array of these: adding a key is adding one line, and the same array
/// tells the walker which keys are unknown (with a suggestion) and which required ones are missing,
/// and gives `gatehouse schema` the key, its shape and its description. The shape has no default, so a
/// key cannot be added without one.
struct Field<Draft>: Sendable {
    let spec: FieldSpec
    let apply: @Sendable (inout Draft, Value) -> Void

    var key: String { self.spec.key }
    var required: Bool { self.spec.required }

    init(
        _ key: String, _ shape: ValueShape, required: Bool = false, doc: String? = nil,
        _ apply: @escaping @Sendable (inout Draft, Value) -> Void
    ) {
        self.spec = FieldSpec(key: key, required: required, shape: shape, doc: doc)
        self.apply = apply
    }

    /// A key whose value is a mapping read by its own key table into a part of the draft.
    init<Section>(
        _ key: String, section fields: [Field<Section>], into part: any WritableKeyPath<Draft, Section> & Sendable,
        doc: String? = nil
    ) {
        self.init(key, .mapping(fields), doc: doc) { draft, value in value.walk(fields: fields, into: &draft[keyPath: part]) }
    }
}

/// Walks a composed YAML tree and collects every problem instead of stopping at the first, so one
/// `gatehouse check` shows the whole list.
final class Walker {
    let file: String
    private(set) var diagnostics: [ConfigDiagnostic] = []
    /// Placeholder → original key, for keys renamed to get past Yams' duplicate-key refusal.
    private let renamedKeys: [String: String]

    init(file: String, renamedKeys: [String: String] = [:]) {
        self.file = file
        self.renamedKeys = renamedKeys
    }

    func location(of node: Node) -> SourceLocation {
        SourceLocation(file: self.file, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1)
    }

    func error(_ message: String, at location: SourceLocation) {
        self.diagnostics.append(ConfigDiagnostic(location: location, message: message))
    }

    func error(_ message: String, at node: Node) {
        self.error(message, at: self.location(of: node))
    }

    /// A mapping's entries in file order, minus (and reporting) non-text keys and repeated keys.
    func entries(of mapping: Node.Mapping) -> [(key: String, keyNode: Node, value: Node)] {
        var entries: [(key: String, keyNode: Node, value: Node)] = []
        var seen: [String: SourceLocation] = [:]
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                self.error("keys must be plain text, got \(Self.describe(keyNode))", at: keyNode)
                continue
            }
            let key = self.renamedKeys[scalar.string] ?? scalar.string
            if let first = seen[key] {
                self.error("duplicate key '\(key)' (first given at \(first))", at: keyNode)
                continue
            }
            seen[key] = self.location(of: keyNode)
            entries.append((key, keyNode, value))
        }
        return entries
    }

    /// Reads a mapping through its key table. `subject` names it in messages: `cluster 'app'`, `routes[2]`.
    @discardableResult
    func walk<Draft>(_ node: Node, subject: String, fields: [Field<Draft>], into draft: inout Draft) -> Bool {
        guard case .mapping(let mapping) = node else {
            self.error("expected a mapping for \(subject), got \(Self.describe(node))", at: node)
            return false
        }
        var given: Set<String> = []
        for entry in self.entries(of: mapping) {
            guard let field = fields.first(where: { $0.key == entry.key }) else {
                let hint = Self.suggestion(for: entry.key, among: fields.map(\.key)).map { "; did you mean '\($0)'?" }
                self.error("unknown key '\(entry.key)'\(hint ?? "")", at: entry.keyNode)
                continue
            }
            given.insert(entry.key)
            field.apply(&draft, Value(node: entry.value, subject: "'\(entry.key)'", walker: self))
        }
        for field in fields where field.required && !given.contains(field.key) {
            self.error("\(subject) needs '\(field.key)'", at: node)
        }
        return true
    }

    /// What a node is, for "expected X, got Y": the text itself for scalars, the kind otherwise.
    static func describe(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a sequence"
        case .alias: return "an alias"
        case .scalar(let scalar):
            if Self.isNull(scalar) { return "an empty value" }
            let text = scalar.string.count > 40 ? scalar.string.prefix(37) + "..." : scalar.string[...]
            return "'\(text)'"
        }
    }

    static func isNull(_ scalar: Node.Scalar) -> Bool {
        scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    /// The candidate the user most likely meant: same word in another case or separator style, or at
    /// most two edits away.
    static func suggestion(for word: String, among candidates: [String]) -> String? {
        func folded(_ text: String) -> String { text.lowercased().filter { $0 != "_" && $0 != "-" } }
        if let variant = candidates.first(where: { folded($0) == folded(word) }) { return variant }
        let scored = candidates.map { (candidate: $0, distance: Self.editDistance(word, $0)) }
        return scored.filter { $0.distance <= 2 }.min { $0.distance < $1.distance }?.candidate
    }

    /// Levenshtein distance.
    static func editDistance(_ lhs: String, _ rhs: String) -> Int {
        let a = Array(lhs)
        let b = Array(rhs)
        var previous = Array(0...b.count)
        for (i, character) in a.enumerated() {
            var current = [i + 1]
            for (j, other) in b.enumerated() {
                current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (character == other ? 0 : 1)))
            }
            previous = current
        }
        return previous[b.count]
    }
}

/// A checked value and where it was written, for problems only found later (clashes, dangling references).
struct Located<Wrapped> {
    var value: Wrapped
    var location: SourceLocation
}

/// A value found under a key (or at an index), with readers that check its type and range and report
/// what is wrong at the value's own position. Each reader returns nil after reporting.
struct Value {
    let node: Node
    /// How messages name it: `'connect'`, `listeners[0]`.
    let subject: String
    let walker: Walker

    var location: SourceLocation { self.walker.location(of: self.node) }

    func error(_ message: String) {
        self.walker.error(message, at: self.node)
    }

    func at<Wrapped>(_ wrapped: Wrapped) -> Located<Wrapped> {
        Located(value: wrapped, location: self.location)
    }

    /// The `index`th element of a sequence under this value, named like an index expression (`routes[2]`)
    /// because "'routes'[2]" reads badly.
    func element(_ index: Int, _ node: Node) -> Value {
        Value(node: node, subject: "\(self.subject.filter { $0 != "'" })[\(index)]", walker: self.walker)
    }

    func walk<Draft>(fields: [Field<Draft>], into draft: inout Draft) {
        self.walker.walk(self.node, subject: self.subject, fields: fields, into: &draft)
    }

    /// The text of any non-empty scalar: plain, quoted or block; numbers are kept as written.
    func string() -> String? {
        guard case .scalar(let scalar) = self.node, !Walker.isNull(scalar) else {
            self.error("expected a string for \(self.subject), got \(Walker.describe(self.node))")
            return nil
        }
        return scalar.string
    }

    func nonEmptyString() -> String? {
        guard let text = self.string() else { return nil }
        if text.isEmpty { self.error("\(self.subject) must not be empty") }
        return text.isEmpty ? nil : text
    }

    /// `true` or `false` only: YAML 1.1's `yes`/`no`/`on`/`off` have surprised too many people.
    func bool() -> Bool? {
        if case .scalar(let scalar) = self.node {
            if ["true", "True", "TRUE"].contains(scalar.string) { return true }
            if ["false", "False", "FALSE"].contains(scalar.string) { return false }
        }
        self.error("expected true or false for \(self.subject), got \(Walker.describe(self.node))")
        return nil
    }

    func int(_ range: ClosedRange<Int>) -> Int? {
        guard case .scalar(let scalar) = self.node, let number = Int(scalar.string) else {
            self.error("expected an integer for \(self.subject), got \(Walker.describe(self.node))")
            return nil
        }
        guard range.contains(number) else {
            self.error("\(self.subject) must be \(Self.describe(range)), got \(number)")
            return nil
        }
        return number
    }

    /// A share from 0 to 100, written `50` or `50%`.
    func percent() -> Int? {
        guard case .scalar(let scalar) = self.node, !Walker.isNull(scalar) else {
            self.error("expected a percentage for \(self.subject), got \(Walker.describe(self.node))")
            return nil
        }
        let text = scalar.string.hasSuffix("%") ? String(scalar.string.dropLast()) : scalar.string
        guard let number = Int(text), (0...100).contains(number) else {
            self.error("\(self.subject) must be a percentage from 0 to 100 (50 or 50%), got '\(scalar.string)'")
            return nil
        }
        return number
    }

    /// A duration greater than zero: every limit in the file is a real limit. With `allowingZero`
    /// (a spread, not a limit) zero is accepted too, written `0` or with a unit.
    func duration(allowingZero: Bool = false) -> Duration? {
        guard let text = self.string() else { return nil }
        if allowingZero, text == "0" { return .zero }
        do {
            let duration = try ValueSyntax.duration(text)
            guard duration > .zero || allowingZero else {
                self.error("\(self.subject) must be greater than 0")
                return nil
            }
            return duration
        } catch {
            self.error("invalid duration '\(text)' for \(self.subject): \(error.reason)")
            return nil
        }
    }

    func size(_ range: ClosedRange<Int64>) -> Int64? {
        guard let text = self.string() else { return nil }
        do {
            let size = try ValueSyntax.size(text)
            guard range.contains(size) else {
                self.error("\(self.subject) must be \(Self.describe(range)) bytes, got \(size)")
                return nil
            }
            return size
        } catch {
            self.error("invalid size '\(text)' for \(self.subject): \(error.reason)")
            return nil
        }
    }

    func hostPort(ports: ClosedRange<Int>) -> HostPort? {
        guard let text = self.string() else { return nil }
        do {
            return try ValueSyntax.hostPort(text, ports: ports)
        } catch {
            self.error("invalid address '\(text)': \(error.reason)")
            return nil
        }
    }

    /// One of an enumeration's raw values; a wrong one lists the allowed values.
    func choice<Choice: CaseIterable & RawRepresentable<String>>(_ what: String, of _: Choice.Type) -> Choice? {
        guard let text = self.string() else { return nil }
        if let choice = Choice(rawValue: text) { return choice }
        let allowed = Choice.allCases.map(\.rawValue)
        let hint = Walker.suggestion(for: text, among: allowed).map { "; did you mean '\($0)'?" } ?? ""
        self.error("unknown \(what) '\(text)'\(hint) (allowed: \(allowed.joined(separator: ", ")))")
        return nil
    }

    func sequence(nonEmpty: Bool) -> [Value]? {
        guard case .sequence(let sequence) = self.node else {
            self.error("expected a sequence for \(self.subject), got \(Walker.describe(self.node))")
            return nil
        }
        if nonEmpty && sequence.isEmpty { self.error("\(self.subject) needs at least one entry") }
        return sequence.enumerated().map { self.element($0.offset, $0.element) }
    }

    /// The entries of a mapping whose keys are names chosen by the user (like `clusters`).
    func namedEntries(nonEmpty: Bool) -> [(name: String, keyNode: Node, value: Value)]? {
        guard case .mapping(let mapping) = self.node else {
            self.error("expected a mapping for \(self.subject), got \(Walker.describe(self.node))")
            return nil
        }
        let entries = self.walker.entries(of: mapping)
        if nonEmpty && entries.isEmpty { self.error("\(self.subject) needs at least one entry") }
        return entries.map { ($0.key, $0.keyNode, Value(node: $0.value, subject: "'\($0.key)'", walker: self.walker)) }
    }

    private static func describe<Bound: FixedWidthInteger>(_ range: ClosedRange<Bound>) -> String {
        range.upperBound == .max
            ? "at least \(range.lowerBound)" : "between \(range.lowerBound) and \(range.upperBound)"
    }
}
