import Foundation
import Testing
import Yams

@testable import GatehouseConfig

/// The JSON Schemas: committed as generated, referenced by the examples, and in agreement with the
/// parser key by key (a sample of each key's declared shape passes both, a wrong value fails both).
///
/// The schema side runs Python's `jsonschema` (Debian `python3-jsonschema`); without it those tests are
/// skipped locally, and fail when `GATEHOUSE_REQUIRE_JSONSCHEMA=1` (as `.ci/run` sets, after installing it).
@Suite struct ConfigSchemaTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func text(_ path: String) throws -> String {
        try String(contentsOf: Self.root.appendingPathComponent(path), encoding: .utf8)
    }

    // MARK: The committed files

    @Test(arguments: [
        ("schema/gatehouse.schema.json", ConfigSchema.gatehouse, ""),
        ("schema/monitor.schema.json", ConfigSchema.monitor, " --monitor"),
    ])
    func committedSchemaIsWhatTheCodeGenerates(path: String, generated: String, flag: String) throws {
        let committed = try? Self.text(path)
        #expect(
            committed == generated,
            "\(path) differs from the key tables; regenerate it: swift run gatehouse schema\(flag) > \(path)")
    }

    @Test(arguments: [
        ("examples/gatehouse.yaml", "../schema/gatehouse.schema.json"),
        ("examples/monitor.yaml", "../schema/monitor.schema.json"),
    ])
    func exampleNamesItsSchemaForEditors(path: String, schema: String) throws {
        let first = try Self.text(path).split(separator: "\n", maxSplits: 1).first.map(String.init)
        #expect(first == "# yaml-language-server: $schema=\(schema)")
    }

    @Test func everyMappingRefusesUnknownKeysAndNamesItsRequiredOnes() throws {
        let schema = try #require(
            try JSONSerialization.jsonObject(with: Data(ConfigSchema.gatehouse.utf8)) as? [String: Any])
        #expect(schema["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
        #expect(schema["required"] as? [String] == ["listeners", "clusters", "routes"])
        var objects = 0
        func visit(_ node: Any) {
            if let object = node as? [String: Any] {
                if object["properties"] != nil {
                    objects += 1
                    #expect(object["additionalProperties"] as? Bool == false, "\(object.keys.sorted())")
                }
                object.values.forEach(visit)
            } else if let array = node as? [Any] {
                array.forEach(visit)
            }
        }
        visit(schema)
        #expect(objects > 15)
    }

    // MARK: Parser and schema agree on every key

    /// One document per key and value: the skeleton of required keys plus the key under test.
    struct Probe {
        var path: String
        var yaml: String
        var valid: Bool
    }

    /// Values the generic samples get wrong because of checks between keys; by path.
    static let overrides: [String: String] = [
        "listeners[].address": "127.0.0.1:0",  // port 0 never clashes with the admin address
        "clusters.a.health_check.interval": "1h",  // not shorter than the default timeout (2s)
        "clusters.a.outlier_detection.max_ejection_time": "1h",  // not shorter than the default base (30s)
        "clusters.a.retries.backoff.base": "1ms",  // not longer than the default max (250ms)
        "targets[].interval": "1h",  // not shorter than the default timeout (10s)
        // Certificate files are read at load: a real (throwaway) pair from Fixtures/.
        "listeners[].tls.certificates[].cert": Self.fixture("schema-sample.pem"),
        "listeners[].tls.certificates[].key": Self.fixture("schema-sample.key"),
        "clusters.a.tls.ca_file": Self.fixture("schema-sample.pem"),
        "clusters.a.tls.client_certificate.cert": Self.fixture("schema-sample.pem"),
        "clusters.a.tls.client_certificate.key": Self.fixture("schema-sample.key"),
    ]

    static func fixture(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/" + name).path
    }
    /// Keys another key needs beside it.
    static let companions: [String: (key: String, value: YAMLTree)] = [
        "clusters.a.hash_on": ("balance", .scalar("consistent_hash"))
    ]

    static func probes<Draft>(_ fields: [Field<Draft>]) -> [Probe] {
        var probes: [Probe] = []
        self.collect(fields.map(\.spec), path: "", wrap: { $0 }, into: &probes)
        return probes
    }

    /// For each key of a mapping reached by `wrap`, a document with its sample (valid) and with a
    /// mapping holding an unknown key (invalid for every shape: a scalar, a list, a mapping, a map
    /// of names); then the same for every mapping nested below.
    static func collect(
        _ fields: [FieldSpec], path: String, wrap: @escaping (YAMLTree) -> YAMLTree, into probes: inout [Probe]
    ) {
        func mapping(with key: String, _ value: YAMLTree) -> YAMLTree {
            var entries = fields.filter { $0.required && $0.key != key }.map {
                ($0.key, self.sample($0.shape, path: path + $0.key))
            }
            entries.append((key, value))
            if let companion = self.companions[path + key] { entries.append(companion) }
            return .map(entries)
        }
        for field in fields {
            let here = path + field.key
            let sample = self.sample(field.shape, path: here)
            probes.append(Probe(path: here, yaml: wrap(mapping(with: field.key, sample)).rendered(), valid: true))
            let wrong = YAMLTree.map([("zz_unknown", .list([.scalar("1")]))])
            probes.append(Probe(path: here, yaml: wrap(mapping(with: field.key, wrong)).rendered(), valid: false))
            for (nested, step, suffix) in self.nestedMappings(field.shape) {
                self.collect(
                    nested, path: here + suffix, wrap: { wrap(mapping(with: field.key, step($0))) }, into: &probes)
            }
        }
    }

    /// The mappings a value may hold, how to place one there, and the path suffix to it.
    static func nestedMappings(_ shape: ValueShape) -> [([FieldSpec], (YAMLTree) -> YAMLTree, String)] {
        switch shape.kind {
        case .mapping(let fields): return [(fields, { $0 }, ".")]
        case .list(let element, _):
            return self.nestedMappings(element).map { nested in (nested.0, { .list([nested.1($0)]) }, "[]" + nested.2) }
        case .named(let value, _):
            return self.nestedMappings(value).map { nested in (nested.0, { .map([("a", nested.1($0))]) }, ".a" + nested.2) }
        case .anyOf(let shapes): return shapes.flatMap(self.nestedMappings)
        case .text, .pattern, .duration, .size, .integer, .number, .percent, .boolean, .words, .hostPort, .url: return []
        }
    }

    static func sample(_ shape: ValueShape, path: String) -> YAMLTree {
        if let override = self.overrides[path] { return .scalar(override) }
        switch shape.kind {
        case .text: return .scalar("a")
        case .pattern(_, _, let sample): return .scalar(sample)
        case .duration: return .scalar("1s")
        case .size(let range): return .scalar(String(max(range.lowerBound, 1024)))
        case .integer(let range): return .scalar(String(range.lowerBound))
        case .number(let range): return .scalar(range.upperBound.isFinite ? String(range.upperBound) : String(range.lowerBound))
        case .percent: return .scalar("50%")
        case .boolean: return .scalar("true")
        case .words(let words): return .scalar(words.first ?? "a")
        case .hostPort: return .scalar("127.0.0.1:1")
        case .url: return .scalar("http://127.0.0.1:1/")
        case .list(let element, _): return .list([self.sample(element, path: path + "[]")])
        case .mapping(let fields):
            return .map(fields.filter(\.required).map { ($0.key, self.sample($0.shape, path: path + "." + $0.key)) })
        case .named(let value, _): return .map([("a", self.sample(value, path: path + ".a"))])
        case .anyOf(let shapes): return shapes.first.map { self.sample($0, path: path) } ?? .scalar("a")
        }
    }

    static let gatewayProbes = Self.probes(RootDraft.fields)
    static let monitorProbes = Self.probes(MonitorDraft.fields)

    @Test func theParserAcceptsEverySampleAndRefusesEveryWrongValue() {
        #expect(Self.gatewayProbes.count > 150)
        for probe in Self.gatewayProbes {
            let errors = Self.parserErrors { try ConfigurationLoader.parse(yaml: probe.yaml, file: "probe.yaml") }
            #expect(errors.isEmpty == probe.valid, "\(probe.path): \(errors)\n\(probe.yaml)")
        }
        for probe in Self.monitorProbes {
            let errors = Self.parserErrors { try ConfigurationLoader.parseMonitor(yaml: probe.yaml, file: "probe.yaml") }
            #expect(errors.isEmpty == probe.valid, "\(probe.path): \(errors)\n\(probe.yaml)")
        }
    }

    static func parserErrors<Result>(_ parse: () throws -> Result) -> [String] {
        do {
            _ = try parse()
            return []
        } catch let error as ConfigurationError {
            return error.diagnostics.map(\.description)
        } catch {
            return ["\(error)"]
        }
    }

    @Test(.enabled(if: JSONSchemaValidator.available, JSONSchemaValidator.missing))
    func theSchemaAgreesWithTheParserOnEveryKey() throws {
        for (schema, probes) in [(ConfigSchema.gatehouse, Self.gatewayProbes), (ConfigSchema.monitor, Self.monitorProbes)]
        {
            let documents = try probes.map { try JSONSchemaValidator.json(fromYAML: $0.yaml) }
            let results = try JSONSchemaValidator.validate(documents, against: schema)
            for (probe, errors) in zip(probes, results) {
                #expect(errors.isEmpty == probe.valid, "\(probe.path): \(errors)\n\(probe.yaml)")
            }
        }
    }

    // MARK: The shipped files

    /// The configurations the repository ships: the examples and the one inside the Kubernetes ConfigMap.
    static func shippedGatewayConfigs() throws -> [(name: String, yaml: String)] {
        let map = try #require(try Yams.load(yaml: try Self.text("deploy/kubernetes/configmap.yaml")) as? [String: Any])
        let embedded = try #require((map["data"] as? [String: Any])?["gatehouse.yaml"] as? String)
        return [
            ("examples/gatehouse.yaml", try Self.text("examples/gatehouse.yaml")),
            ("deploy/kubernetes/configmap.yaml (data.gatehouse.yaml)", embedded),
        ]
    }

    @Test(.enabled(if: JSONSchemaValidator.available, JSONSchemaValidator.missing))
    func theShippedConfigurationsValidate() throws {
        let gateway = try Self.shippedGatewayConfigs()
        let results = try JSONSchemaValidator.validate(
            try gateway.map { try JSONSchemaValidator.json(fromYAML: $0.yaml) }, against: ConfigSchema.gatehouse)
        for (config, errors) in zip(gateway, results) { #expect(errors.isEmpty, "\(config.name): \(errors)") }
        let monitor = try JSONSchemaValidator.validate(
            [try JSONSchemaValidator.json(fromYAML: try Self.text("examples/monitor.yaml"))], against: ConfigSchema.monitor)
        #expect(monitor == [[]])
    }

    @Test(.enabled(if: JSONSchemaValidator.available, JSONSchemaValidator.missing))
    func aConfigWithAnUnknownKeyOrAWrongTypeIsRejected() throws {
        let example = try Self.text("examples/gatehouse.yaml")
        // A misspelt key two levels down, and a duration written as a bare number.
        let unknownKey = example.replacingOccurrences(of: "      connect: 2s", with: "      conect: 2s")
        let wrongType = example.replacingOccurrences(of: "      connect: 2s", with: "      connect: 2")
        let wrongWord = example.replacingOccurrences(of: "balance: round_robin", with: "balance: round-robin")
        #expect(unknownKey != example && wrongType != example && wrongWord != example)
        let results = try JSONSchemaValidator.validate(
            try [unknownKey, wrongType, wrongWord].map(JSONSchemaValidator.json(fromYAML:)), against: ConfigSchema.gatehouse)
        #expect(results[0].contains { $0.contains("'conect' was unexpected") && $0.contains("clusters/app/timeouts") })
        #expect(results[1].contains { $0.contains("clusters/app/timeouts/connect") })
        #expect(results[2].contains { $0.contains("clusters/app/balance") })
        // The parser refuses all three too.
        for yaml in [unknownKey, wrongType, wrongWord] {
            #expect(!Self.parserErrors { try ConfigurationLoader.parse(yaml: yaml, file: "x.yaml") }.isEmpty)
        }
    }
}

/// A YAML document built in code, rendered in block style so plain scalars such as `127.0.0.1:1`
/// need no quoting (and keep the type an editor would see).
indirect enum YAMLTree: Sendable {
    case scalar(String)
    case list([YAMLTree])
    case map([(String, YAMLTree)])

    func rendered() -> String { self.lines(indent: "").joined(separator: "\n") + "\n" }

    private func lines(indent: String) -> [String] {
        switch self {
        case .scalar(let text): return [indent + text]
        case .list(let items):
            return items.flatMap { item -> [String] in
                let body = item.lines(indent: indent + "  ")
                guard let first = body.first else { return [] }
                return [indent + "- " + first.dropFirst(indent.count + 2)] + body.dropFirst()
            }
        case .map(let entries):
            if entries.isEmpty { return [indent + "{}"] }
            return entries.flatMap { key, value -> [String] in
                switch value {
                case .scalar(let text): return ["\(indent)\(key): \(text)"]
                case .map(let inner) where inner.isEmpty: return ["\(indent)\(key): {}"]
                case .list, .map: return ["\(indent)\(key):"] + value.lines(indent: indent + "  ")
                }
            }
        }
    }
}

/// Python's `jsonschema` (draft 2020-12), run through `scripts/validate-json-schema.py`.
enum JSONSchemaValidator {
    static let script = ConfigSchemaTests.root.appendingPathComponent("scripts/validate-json-schema.py").path

    /// Whether `python3 -c 'import jsonschema'` works; when CI requires it, "no" fails instead of skipping.
    static let available: Bool = {
        let found = (try? JSONSchemaValidator.run(["python3", "-c", "import jsonschema"]).status) == 0
        if !found, ProcessInfo.processInfo.environment["GATEHOUSE_REQUIRE_JSONSCHEMA"] == "1" { return true }
        return found
    }()

    static let missing: Comment =
        "python3 with jsonschema is not installed (apt-get install python3-jsonschema, or pip install jsonschema): schema validation skipped"

    /// A YAML document as JSON, typed the way a YAML 1.2 editor sees it.
    static func json(fromYAML yaml: String) throws -> Any {
        try #require(try Yams.load(yaml: yaml))
    }

    /// The error messages per document (empty = valid).
    static func validate(_ documents: [Any], against schema: String) throws -> [[String]] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-schema-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let schemaFile = directory.appendingPathComponent("schema.json")
        let documentsFile = directory.appendingPathComponent("documents.json")
        try Data(schema.utf8).write(to: schemaFile)
        try JSONSerialization.data(withJSONObject: documents).write(to: documentsFile)
        let result = try run(["python3", Self.script, schemaFile.path, documentsFile.path])
        try #require(result.status == 0, "validate-json-schema.py failed: \(result.output)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [[String]])
    }

    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}
