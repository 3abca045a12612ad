/// One problem found in a configuration file, pinned to the place that caused it.
///
/// Rendered like a compiler message (`FILE:LINE:COL: message`) so editors and terminals can jump to it.
public struct ConfigDiagnostic: Sendable, Hashable, CustomStringConvertible {
    /// How bad the problem is: errors reject the file, warnings only inform (and fail `check --strict`),
    /// notes are facts worth knowing that fail nothing.
    public enum Severity: Sendable, Hashable {
        case error
        case warning
        case note
    }

    public var location: SourceLocation
    public var message: String
    public var severity: Severity

    public init(location: SourceLocation, message: String, severity: Severity = .error) {
        self.location = location
        self.message = message
        self.severity = severity
    }

    /// `FILE:LINE:COL: message`, `FILE:LINE:COL: warning: message` or `FILE:LINE:COL: note: message`.
    public var description: String {
        switch self.severity {
        case .error: "\(self.location): \(self.message)"
        case .warning: "\(self.location): warning: \(self.message)"
        case .note: "\(self.location): note: \(self.message)"
        }
    }
}

/// Why a configuration was rejected: every problem found, in file order.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [ConfigDiagnostic]

    public init(diagnostics: [ConfigDiagnostic]) {
        self.diagnostics = diagnostics
    }

    /// One diagnostic per line.
    public var description: String {
        self.diagnostics.map(\.description).joined(separator: "\n")
    }
}
