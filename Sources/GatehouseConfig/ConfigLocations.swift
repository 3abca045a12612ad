import Yams

/// Where each key and sequence entry of a valid configuration file was written: the side table that
/// lets checks run on the finished ``GatehouseConfiguration`` (such as ``ConfigLints``) point at the line
/// that caused a finding.
///
/// Paths are the keys as written: `["clusters", "app", "timeouts", "connect"]` is the `connect` key
/// under that cluster's `timeouts`; sequence entries are their index, `["routes", "2"]`. A key's location
/// is that of the key itself, a sequence entry's that of its first character. A configuration built in
/// code has an empty table: every lookup falls back to the start of ``file``.
public struct ConfigLocations: Sendable, Equatable {
    /// The file the locations are in, and the file named by the fallback.
    public var file: String
    /// Path → where it was written.
    public var paths: [[String]: SourceLocation]

    public init(file: String = "<configuration>", paths: [[String]: SourceLocation] = [:]) {
        self.file = file
        self.paths = paths
    }

    /// Where `path` was written; if it was not (a default), where its closest written ancestor was;
    /// the start of the file at worst.
    public func nearest(_ path: [String]) -> SourceLocation {
        var path = path
        while !path.isEmpty {
            if let location = self.paths[path] { return location }
            path.removeLast()
        }
        return SourceLocation(file: self.file, line: 1, column: 1)
    }

    /// Whether `path` was written in the file.
    public func contains(_ path: [String]) -> Bool {
        self.paths[path] != nil
    }

    /// Records every mapping key and sequence entry under `root`.
    init(root: Node, file: String) {
        self.init(file: file)
        self.record(root, path: [])
    }

    private mutating func record(_ node: Node, path: [String]) {
        switch node {
        case .mapping(let mapping):
            for (key, value) in mapping {
                guard case .scalar(let scalar) = key else { continue }
                let keyPath = path + [scalar.string]
                self.paths[keyPath] = self.location(of: key)
                self.record(value, path: keyPath)
            }
        case .sequence(let sequence):
            for (index, element) in sequence.enumerated() {
                let elementPath = path + [String(index)]
                self.paths[elementPath] = self.location(of: element)
                self.record(element, path: elementPath)
            }
        case .scalar, .alias:
            break
        }
    }

    private func location(of node: Node) -> SourceLocation {
        SourceLocation(file: self.file, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1)
    }
}
