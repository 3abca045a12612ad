import Foundation
import GatehouseErrors
import Testing

@testable import GatehouseExplain

/// The shared fixtures (`shared/fixtures/logs` next to the repository), found at run time.
enum Fixtures {
    /// The fixtures directory: `$GATEHOUSE_FIXTURES`, or the first `shared/fixtures/logs` above this
    /// file (through the path as compiled and through its resolved real path, for symlinked test dirs).
    static let root: URL? = {
        let fileManager = FileManager.default
        if let override = ProcessInfo.processInfo.environment["GATEHOUSE_FIXTURES"],
            fileManager.fileExists(atPath: override)
        {
            return URL(fileURLWithPath: override)
        }
        let file = URL(fileURLWithPath: #filePath)
        for start in [file, file.resolvingSymlinksInPath()] {
            var directory = start.deletingLastPathComponent()
            while directory.pathComponents.count > 1 {
                let candidate = directory.appendingPathComponent("shared/fixtures/logs")
                if fileManager.fileExists(atPath: candidate.path) { return candidate }
                directory = directory.deletingLastPathComponent()
            }
        }
        return nil
    }()

    static var scenarios: [String] {
        guard let root, let names = try? FileManager.default.contentsOfDirectory(atPath: root.path) else { return [] }
        return names.filter {
            FileManager.default.fileExists(atPath: root.appendingPathComponent("\($0)/truth.json").path)
        }
        .sorted()
    }

    /// The `.log` files of a scenario, by name.
    static func logFiles(_ scenario: String) -> [String] {
        guard let root,
            let names = try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(scenario).path)
        else { return [] }
        return names.filter { $0.hasSuffix(".log") }.sorted()
    }
}

/// Which files of a scenario folder are fed to the analyser.
enum FeedMode: String, Sendable, CaseIterable {
    case all, nginx, haproxy

    func selects(_ file: String) -> Bool {
        switch self {
        case .all: return true
        case .nginx: return file.hasPrefix("nginx")
        case .haproxy: return file.hasPrefix("haproxy")
        }
    }
}

/// One fixture folder in one feed mode.
struct FixtureCase: Sendable, CustomTestStringConvertible {
    var scenario: String
    var mode: FeedMode
    var testDescription: String { "\(scenario) (\(mode.rawValue))" }

    static var all: [FixtureCase] {
        Fixtures.scenarios.flatMap { scenario in
            FeedMode.allCases.compactMap { mode in
                Fixtures.logFiles(scenario).contains(where: mode.selects)
                    ? FixtureCase(scenario: scenario, mode: mode) : nil
            }
        }
    }

    /// HAProxy's traffic log writes these faults with exactly the same line as another cause
    /// (`SC--` for a refusal and for a failed TLS handshake; `SD--` for a close and a reset mid-body;
    /// `PH--` for every invalid response), so a HAProxy-only diagnosis cannot name the cause.
    static let indistinguishable: Set<String> = [
        "tls_self_signed (haproxy)", "reset_mid_body (haproxy)", "header_too_big (haproxy)",
    ]
}

/// What `truth.json` expects.
struct Truth {
    var cause: String
    var proxyStatus: String?
    var alsoAcceptable: [String]

    init(scenario: String) throws {
        let root = try #require(Fixtures.root)
        let data = try Data(contentsOf: root.appendingPathComponent("\(scenario)/truth.json"))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        cause = try #require(object["cause"] as? String)
        proxyStatus = object["proxy_status_error"] as? String
        alsoAcceptable = object["proxy_status_also_acceptable"] as? [String] ?? []
    }
}

@Suite("Fixture scenarios")
struct FixtureScenarioTests {
    @Test func fixturesArePresent() {
        #expect(Fixtures.root != nil, "shared/fixtures/logs not found above \(#filePath); set GATEHOUSE_FIXTURES")
        #expect(Fixtures.scenarios.count >= 15)
    }

    @Test(arguments: FixtureCase.all)
    func topFindingMatchesTruth(_ fixture: FixtureCase) throws {
        let root = try #require(Fixtures.root)
        let truth = try Truth(scenario: fixture.scenario)
        var explainer = LogExplainer(syslogYear: 2026)
        var lines = Set<String>()
        for file in Fixtures.logFiles(fixture.scenario) where fixture.mode.selects(file) {
            let path = root.appendingPathComponent("\(fixture.scenario)/\(file)").path
            explainer.beginSource(file)
            try InputReader.forEachLine(path: path) { line in
                explainer.consume(line)
                lines.insert(line.text())
            }
        }
        let findings = explainer.findings()
        let check = {
            let top = try #require(findings.first, "no finding")
            #expect(top.cause.rawValue == truth.cause)
            let status = top.proxyStatusError?.rawValue
            #expect(
                status == truth.proxyStatus || (status.map(truth.alsoAcceptable.contains) ?? false),
                "proxy_status_error \(status ?? "null")"
            )
            #expect(lines.contains(top.evidence), "the evidence must be a line of the input")
            #expect(top.count > 0 && !top.fix.isEmpty)
        }
        if FixtureCase.indistinguishable.contains(fixture.testDescription) {
            withKnownIssue("HAProxy logs this fault exactly like another cause") { try check() }
        } else {
            try check()
        }
    }
}
