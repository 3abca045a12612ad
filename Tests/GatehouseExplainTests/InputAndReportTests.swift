import Foundation
import Testing

@testable import GatehouseExplain

@Suite("Input, bounds and report")
struct InputAndReportTests {
    static let errorLine =
        #"2026/11/21 04:43:18 [error] 15470#15470: *4 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: www.demo.test, request: "GET /v1/cart HTTP/1.1", upstream: "http://127.0.0.1:20399/v1/cart", host: "127.0.0.1:20280""#

    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("explain-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func gzipInputIsDetectedByContent() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let plain = directory.appendingPathComponent("error.log")
        let lines = ["*4", "*6", "*8"].map { Self.errorLine.replacingOccurrences(of: "*4", with: $0) }
        try (lines.joined(separator: "\n") + "\n").write(
            to: plain,
            atomically: true,
            encoding: .utf8
        )
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        gzip.arguments = ["gzip", "-n", plain.path]  // writes error.log.gz and removes error.log
        try gzip.run()
        gzip.waitUntilExit()
        #expect(gzip.terminationStatus == 0)
        let compressed = directory.appendingPathComponent("error.log.gz")
        let renamed = directory.appendingPathComponent("rotated-error")  // no .gz suffix: detection is by magic bytes
        try FileManager.default.moveItem(at: compressed, to: renamed)
        var explainer = LogExplainer(syslogYear: 2026)
        try InputReader.forEachLine(path: renamed.path) { explainer.consume($0) }
        #expect(explainer.summary.lines == 3)
        let top = try #require(explainer.findings().first)
        #expect(top.cause == .upstreamNotListening)
        #expect(top.count == 3)
    }

    @Test func unreadableInputExitsWithTwo() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(
            ExplainRunner.run(paths: [directory.appendingPathComponent("missing.log").path], json: true, color: false)
                == 2
        )
        #expect(ExplainRunner.run(paths: [directory.path], json: true, color: false) == 2)
    }

    @Test func nginxRetriesOfOneRequestCountOnce() throws {
        let nextServer = Self.errorLine.replacingOccurrences(of: "20399", with: "20398")
        let later = Self.errorLine.replacingOccurrences(of: "04:43:18", with: "04:43:25")
        let top = try #require(Parse.findings([Self.errorLine, nextServer, later]).first)
        #expect(top.count == 2, "one request tried two servers; a later request on the same connection counts again")
        #expect(top.upstreams == ["127.0.0.1:20399", "127.0.0.1:20398"])
    }

    @Test func linesSplitAcrossChunksAndCRLF() {
        var splitter = LineSplitter()
        var lines: [String] = []
        let text = "first line\r\nsecond li"
        splitter.feed(Data(text.utf8)) { lines.append($0.text()) }
        splitter.feed(Data("ne\nthird".utf8)) { lines.append($0.text()) }
        splitter.finish { lines.append($0.text()) }
        #expect(lines == ["first line", "second line", "third"])
    }

    @Test func memoryStaysBoundedForManyUpstreamsAndLongSpans() {
        var aggregator = Aggregator()
        for index in 0..<(Aggregator.maxGroups + 500) {
            var failure = FailureEvent(
                family: .haproxy,
                failureClass: .readTimeout,
                upstream: "be/s\(index)",
                status: 504,
                time: Int64(index) * 3_600_000,
                line: "x"
            )
            failure.requestHash = UInt64(index)
            aggregator.record(failure)
        }
        #expect(aggregator.groups.count <= Aggregator.maxGroups + 1)
        let other = aggregator.groups.values.first { $0.key.upstream == "(other upstreams)" }
        #expect((other?.count ?? 0) >= 500)
        #expect((other?.histogram.buckets.count ?? .max) <= TimeHistogram.maxBuckets)
    }

    @Test func histogramFindsThePeak() throws {
        var histogram = TimeHistogram()
        for second in [0, 10, 61, 62, 63, 200] { histogram.add(Int64(second) * 1000) }
        let peak = try #require(histogram.peak)
        #expect(peak.start == 60_000 && peak.count == 3 && peak.width == 60_000)
    }

    @Test func timesAreUTC() {
        #expect(LogTime.iso8601(0) == "1970-01-01T00:00:00Z")
        let millis = Parse.millis(2026, 11, 21, 4, 43, 19, 231)
        #expect(millis.map(LogTime.iso8601) == "2026-11-21T04:43:19.231Z")
        #expect(millis.map(LogTime.year) == 2026)
    }

    @Test func jsonReportHasTheContractedFields() throws {
        let lines = [Self.errorLine, GatehouseLogTests.line(status: 502, proxyStatus: nil, received: 502)]
        var explainer = LogExplainer(syslogYear: 2026)
        for line in lines { explainer.consume(line: line, source: "mixed.log") }
        let json = ReportRenderer.json(explainer.findings(), summary: explainer.currentSummary)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let findings = try #require(object["findings"] as? [[String: Any]])
        #expect(findings.count == 2)
        for finding in findings {
            for key in ["proxy_status_error", "cause", "count", "first", "last", "upstreams", "evidence", "fix"] {
                #expect(finding[key] != nil, "missing \(key)")
            }
        }
        let relayed = try #require(findings.first { $0["cause"] as? String == "upstream_returned_502" })
        #expect(relayed["proxy_status_error"] is NSNull)
        let refused = try #require(findings.first { $0["cause"] as? String == "upstream_not_listening" })
        #expect(refused["proxy_status_error"] as? String == "connection_refused")
        #expect(refused["evidence"] as? String == Self.errorLine)
        #expect(refused["upstreams"] as? [String] == ["127.0.0.1:20399"])
    }

    @Test func textReportEndsWithAVerdictAndColoursOnlyOnRequest() throws {
        var explainer = LogExplainer(syslogYear: 2026)
        explainer.consume(line: Self.errorLine, source: "error.log")
        let findings = explainer.findings()
        let plain = ReportRenderer.text(findings, summary: explainer.currentSummary, color: false)
        #expect(plain.contains("Fix: "))
        #expect(plain.contains("upstream_not_listening"))
        #expect(!plain.contains("\u{1B}["))
        let lastLine = try #require(plain.split(separator: "\n").last)
        #expect(lastLine.hasPrefix("Verdict: 1 gateway error"))
        #expect(ReportRenderer.text(findings, summary: explainer.currentSummary, color: true).contains("\u{1B}["))
        let empty = ReportRenderer.text([], summary: LogExplainer.Summary(), color: false)
        #expect(empty.hasSuffix("Verdict: no gateway errors found.\n"))
    }
}

@Suite("Robustness")
struct RobustnessTests {
    /// Every prefix of every fixture line (a log cut anywhere, a partial last line) parses without trapping.
    @Test func truncatedLinesNeverTrap() throws {
        let root = try #require(Fixtures.root)
        var explainer = LogExplainer(syslogYear: 2026)
        var prefixes = 0
        for scenario in Fixtures.scenarios {
            for file in Fixtures.logFiles(scenario) {
                let text = try String(contentsOf: root.appendingPathComponent("\(scenario)/\(file)"), encoding: .utf8)
                for line in text.split(separator: "\n").prefix(40) {
                    let bytes = Array(line.utf8)
                    for length in stride(from: 0, through: bytes.count, by: 1) {
                        bytes.withUnsafeBufferPointer { buffer in
                            explainer.consume(LogLine(bytes: UnsafeBufferPointer(rebasing: buffer[0..<length])))
                        }
                        prefixes += 1
                    }
                }
            }
        }
        #expect(prefixes > 10_000)
        _ = explainer.findings()
    }

    @Test func unusualBytesAreHandled() {
        let lines = [
            "", " ", "\u{0}\u{0}", "[", "{", "{\"status\":", "{\"status\":502,\"proxy_status\":\"nonsense\"}",
            "2026/11/21 04:43:18 [", "2026/11/21 04:43:18 [error]", "1.2.3.4:5 [",
            "1.2.3.4 - - [21/Nov/2026:04:43:18 +0000] \"",
            "Nov 21 04:43:18", "Nov 21 04:43:18 host haproxy[1]:", "<13>", "Server x", "backend", "x us=502, y",
            String(repeating: "9", count: 5000),
        ]
        #expect(Parse.findings(lines).allSatisfy { $0.count > 0 })
    }
}
