import Yams

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Turns a Gatehouse YAML file into a validated ``GatehouseConfiguration``, or into every reason it cannot
/// be one, each with its `file:line:col`.
///
/// The file is composed into a YAML node tree (which keeps positions, unlike Codable) and walked against
/// the key tables in `Schema.swift`.
public enum ConfigurationLoader {
    /// Reads and parses the file at `path`.
    public static func load(path: String) throws(ConfigurationError) -> GatehouseConfiguration {
        try self.parse(yaml: try self.text(of: path), file: path)
    }

    /// Parses YAML text; `file` is only used to name locations in diagnostics.
    public static func parse(yaml: String, file: String) throws(ConfigurationError) -> GatehouseConfiguration {
        try self.parseWithLocations(yaml: yaml, file: file).configuration
    }

    /// Reads and parses the file at `path`, keeping where each key was written (for ``ConfigLints``).
    public static func loadWithLocations(path: String) throws(ConfigurationError) -> (
        configuration: GatehouseConfiguration, locations: ConfigLocations
    ) {
        try self.parseWithLocations(yaml: try self.text(of: path), file: path)
    }

    /// Parses YAML text, keeping where each key was written (for ``ConfigLints``).
    public static func parseWithLocations(yaml: String, file: String) throws(ConfigurationError) -> (
        configuration: GatehouseConfiguration, locations: ConfigLocations
    ) {
        let (configuration, root) = try self.parse(
            yaml, file: file, subject: "the configuration", fields: RootDraft.fields, draft: RootDraft()
        ) { $0.finish($1) }
        return (configuration, ConfigLocations(root: root, file: file))
    }

    /// Reads and parses the file at `path`, then lints it: the configuration and its warnings (and notes)
    /// in file order. Errors still throw.
    public static func loadWithLints(path: String) throws(ConfigurationError) -> (
        configuration: GatehouseConfiguration, warnings: [ConfigDiagnostic]
    ) {
        let (configuration, locations) = try self.loadWithLocations(path: path)
        return (configuration, ConfigLints.check(configuration, locations).map(\.diagnostic))
    }

    /// Reads and parses a `gatehouse monitor` file (`monitor.yaml`).
    public static func loadMonitor(path: String) throws(ConfigurationError) -> MonitorConfiguration {
        try self.parseMonitor(yaml: try self.text(of: path), file: path)
    }

    /// Parses a `gatehouse monitor` file's YAML text; `file` names locations in diagnostics.
    public static func parseMonitor(yaml: String, file: String) throws(ConfigurationError) -> MonitorConfiguration {
        try self.parse(
            yaml, file: file, subject: "the monitor configuration", fields: MonitorDraft.fields, draft: MonitorDraft()
        ) { $0.finish($1) }.result
    }

    private static func text(of path: String) throws(ConfigurationError) -> String {
        do {
            return try self.readFile(path)
        } catch {
            let location = SourceLocation(file: path, line: 1, column: 1)
            throw ConfigurationError(diagnostics: [
                ConfigDiagnostic(location: location, message: "cannot read file: \(error.reason)")
            ])
        }
    }

    /// Composes `yaml`, walks its top-level mapping through `fields` into `draft`, and lets `finish` run
    /// the cross-checks and build the result: the same path, and so the same diagnostics, for every kind
    /// of file.
    private static func parse<Draft, Result>(
        _ yaml: String, file: String, subject: String, fields: [Field<Draft>], draft initial: Draft,
        finish: (Draft, Walker) -> Result?
    ) throws(ConfigurationError) -> (result: Result, root: Node) {
        let (root, renamedKeys) = try self.compose(yaml, file: file)
        let walker = Walker(file: file, renamedKeys: renamedKeys)
        var result: Result?
        if let root, case .mapping = root {
            var draft = initial
            walker.walk(root, subject: subject, fields: fields, into: &draft)
            result = finish(draft, walker)
        } else if let root {
            walker.error("expected a mapping at the top of the file, got \(Walker.describe(root))", at: root)
        } else {
            let required = fields.filter(\.required).map { "'\($0.key)'" }
            let list =
                required.dropLast().joined(separator: ", ") + (required.count > 1 ? " and " : "")
                + (required.last ?? "")
            let kind = subject.hasPrefix("the ") ? "a " + subject.dropFirst(4) : subject
            walker.error(
                "the file is empty: \(kind) needs \(list)", at: SourceLocation(file: file, line: 1, column: 1))
        }
        if let result, let root, walker.diagnostics.isEmpty { return (result, root) }
        // Sorted by position, ties kept in the order found (offsets break them: Swift's sort is not stable by contract).
        let diagnostics = walker.diagnostics.enumerated().sorted {
            ($0.element.location.line, $0.element.location.column, $0.offset)
                < ($1.element.location.line, $1.element.location.column, $1.offset)
        }.map(\.element)
        throw ConfigurationError(diagnostics: diagnostics)
    }

    /// Composes the node tree. Yams rejects a repeated key outright, which would hide every other problem,
    /// so each time it does, the key's first occurrence is renamed in place to a placeholder of the same
    /// length (positions stay exact) and the walker maps it back and reports the repeat with the rest.
    private static func compose(_ yaml: String, file: String) throws(ConfigurationError) -> (Node?, [String: String]) {
        var text = yaml
        var renamedKeys: [String: String] = [:]
        while true {
            do {
                return (try Yams.compose(yaml: text), renamedKeys)
            } catch YamlError.duplicatedKeysInMapping(let duplicates, let context) {
                guard renamedKeys.count < 10_000,
                    let renamed = self.renameKey(
                        in: text, at: context.mark, oneOf: duplicates, number: renamedKeys.count)
                else {
                    throw self.error(
                        file, (context.mark.line, context.mark.column),
                        "duplicate key '\(duplicates.joined(separator: "', '"))'")
                }
                text = renamed.text
                renamedKeys[renamed.placeholder] = renamed.key
            } catch let error as YamlError {
                throw self.error(file, self.mark(of: error, in: text), "invalid YAML: \(self.problem(of: error))")
            } catch {
                throw self.error(file, nil, "invalid YAML: \(error)")
            }
        }
    }

    private static func error(_ file: String, _ mark: (line: Int, column: Int)?, _ message: String)
        -> ConfigurationError
    {
        let location = SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
        return ConfigurationError(diagnostics: [ConfigDiagnostic(location: location, message: message)])
    }

    private static func mark(of error: YamlError, in yaml: String) -> (line: Int, column: Int)? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
            return (mark.line, mark.column)
        case .reader(_, let offset?, _, _):
            // The offset counts Characters, in which "\r\n" is one: the same line breaks libyaml counts.
            let prefix = yaml.prefix(offset)
            let lines = prefix.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
            return (lines.count, (lines.last?.unicodeScalars.count ?? 0) + 1)
        default:
            return nil
        }
    }

    private static func problem(of error: YamlError) -> String {
        switch error {
        case .scanner(let context?, let problem, _, _), .parser(let context?, let problem, _, _),
            .composer(let context?, let problem, _, _):
            return "\(problem) (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
        case .scanner(nil, let problem, _, _), .parser(nil, let problem, _, _), .composer(nil, let problem, _, _),
            .reader(let problem, _, _, _):
            return problem
        default:
            return "\(error)"
        }
    }

    /// Replaces the key written at `mark` (plain or quoted, without escapes) by a placeholder of as many
    /// Unicode scalars, made of private-use characters that no real key contains.
    private static func renameKey(in text: String, at mark: Mark, oneOf keys: [String], number: Int)
        -> (text: String, placeholder: String, key: String)?
    {
        var scalars = Array(text.unicodeScalars)
        var line = 1
        var index = 0
        while line < mark.line, index < scalars.count {
            let scalar = scalars[index]
            index += 1
            if scalar == "\r", index < scalars.count, scalars[index] == "\n" { index += 1 }
            if ["\n", "\r", "\u{85}", "\u{2028}", "\u{2029}"].contains(scalar) { line += 1 }
        }
        index += mark.column - 1
        if index < scalars.count, scalars[index] == "\"" || scalars[index] == "'" { index += 1 }
        for key in keys {
            let keyScalars = Array(key.unicodeScalars)
            guard !keyScalars.isEmpty, index + keyScalars.count <= scalars.count,
                Array(scalars[index..<index + keyScalars.count]) == keyScalars
            else { continue }
            var placeholder: [Unicode.Scalar] = []
            var rest = number
            for _ in keyScalars {
                guard let scalar = Unicode.Scalar(UInt32(0xE000 + rest % 6400)) else { return nil }
                placeholder.append(scalar)
                rest /= 6400
            }
            guard rest == 0 else { return nil }
            scalars.replaceSubrange(index..<index + keyScalars.count, with: placeholder)
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars)
            return (String(view), String(String.UnicodeScalarView(placeholder)), key)
        }
        return nil
    }

    /// Why a file could not be read, in the system's words.
    private struct ReadError: Error {
        var reason: String
    }

    private static func readFile(_ path: String) throws(ReadError) -> String {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw ReadError(reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                throw ReadError(reason: String(cString: strerror(errno)))
            }
            bytes.append(contentsOf: buffer[0..<count])
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw ReadError(reason: "not valid UTF-8") }
        return text
    }
}
