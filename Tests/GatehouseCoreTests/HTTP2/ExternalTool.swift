import Foundation
import GatehouseOrigins
import Testing

/// A real client program run against the gateway (curl, h2load, nghttp, python3 with
/// `websockets`): found by path, and required when CI says so, so that a machine without it
/// fails loudly instead of skipping (`.ci/run` installs them and sets the variables).
enum ExternalTool {
    /// The first executable of `paths`, or nil.
    static func find(_ paths: [String]) -> String? {
        paths.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Whether a test that needs the tool runs: it is installed, or CI requires it (then its
    /// absence fails the test at `#require`).
    static func runs(_ path: String?, requiredBy variable: String) -> Bool {
        path != nil || ProcessInfo.processInfo.environment[variable] == "1"
    }

    static let curl = find(["/usr/bin/curl", "/usr/local/bin/curl"])
    static let h2load = find(["/usr/bin/h2load", "/usr/local/bin/h2load"])
    static let nghttp = find(["/usr/bin/nghttp", "/usr/local/bin/nghttp"])
    /// A python3 that can `import websockets` (Debian's python3-websockets lives in /usr/bin's).
    static let websocketsPython: String? = {
        for candidate in ["/usr/bin/python3", "/usr/local/bin/python3"] where FileManager.default.isExecutableFile(atPath: candidate) {
            if let result = try? runBlocking(candidate, ["-c", "import websockets"]), result.status == 0 { return candidate }
        }
        return nil
    }()

    struct Result: Sendable {
        var status: Int32
        var output: String
        var errors: String
    }

    /// Runs the program to its end, or kills it after `timeout` (a hung client must not hang the suite).
    static func run(_ path: String, _ arguments: [String], input: Data? = nil, timeout: Duration = .seconds(60)) async throws -> Result {
        // On a GCD thread, not the tests' cooperative pool (two threads here): a client blocking
        // there would stall every other test's tasks, the gateway calls of its own test included.
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Swift.Result { try runBlocking(path, arguments, input: input, timeout: timeout) })
            }
        }
    }

    private static func runBlocking(
        _ path: String, _ arguments: [String], input: Data? = nil, timeout: Duration = .seconds(60)
    ) throws -> Result {
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let output = try ChildProcess.run(path, arguments, input: input.map { [UInt8]($0) } ?? [], timeoutSeconds: seconds)
        return Result(
            status: output.status, output: String(decoding: output.stdout, as: UTF8.self),
            errors: String(decoding: output.stderr, as: UTF8.self))
    }
}
