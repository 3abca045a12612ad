import ArgumentParser
import GatehouseConfig
import GatehouseDoctor

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `gatehouse doctor TARGET`: diagnoses a URL or an upstream hop by hop and ends with a verdict in the
/// Proxy-Status vocabulary and the fix.
struct Doctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Diagnose a URL or upstream hop by hop: DNS, TCP, TLS, HTTP, timing against timeouts, keep-alive, local resources.",
        discussion: """
            TARGET is a URL (https://shop.example.com/cart), a host:port (plain HTTP, GET /), or left out with \
            -c FILE to check every server of the configuration (or of --cluster NAME) against that cluster's \
            timeouts and limits. Exit code: 0 healthy, 1 a problem found, 2 could not run.
            """)

    @Argument(help: "A URL (http://host:port/path, https://host/path) or host:port.")
    var target: String?

    @Option(name: .shortAndLong, help: "A Gatehouse configuration: check its servers, and compare with its timeouts and limits.")
    var config: String?

    @Option(help: "Only this cluster of the configuration; with TARGET, the cluster whose limits apply.")
    var cluster: String?

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "Time limit of each hop (5s, 500ms, or seconds).")
    var timeout = "5s"

    @Option(name: .customLong("keepalive-max"), help: "How long to hold an idle connection to see when the upstream closes it; 0 disables.")
    var keepaliveMax = "10s"

    @Option(name: .customLong("ca-file"), help: "PEM file of extra CA certificates to trust for https targets.")
    var caFile: String?

    @Option(help: "The path requested from each server with -c.")
    var path = "/"

    @Flag(name: .customLong("no-local"), help: "Skip this machine's resources (load, memory, disk, descriptors, ports, backlog).")
    var noLocal = false

    @Flag(inversion: .prefixedNo, help: "Colour the report (default: when standard output is a terminal).")
    var color: Bool? = nil

    func run() async throws {
        let arguments = DoctorArguments(
            target: self.target, configPath: self.config, cluster: self.cluster, timeout: self.timeout,
            keepAliveMax: self.keepaliveMax, caFile: self.caFile, path: self.path, checkLocalResources: !self.noLocal)
        let plan: DoctorPlan
        do {
            plan = try DoctorPlanner.plan(arguments) { path throws(ConfigurationError) in
                try ConfigurationLoader.load(path: path)
            }
        } catch {
            for message in error.messages { Self.emit("gatehouse doctor: \(message)\n", to: STDERR_FILENO) }
            // 2 = could not run, as the command's contract says (1 means a problem was found).
            throw ExitCode(2)
        }
        let report = await DoctorRunner.run(plan)
        let useColor = self.color ?? (isatty(STDOUT_FILENO) == 1)
        Self.emit(self.json ? DoctorRenderer.json(report) : DoctorRenderer.text(report, color: useColor), to: STDOUT_FILENO)
        if report.exitCode != 0 { throw ExitCode(report.exitCode) }
    }

    /// Writes straight to the descriptor: the report is complete before the process exits with its code.
    private static func emit(_ text: String, to descriptor: CInt) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            bytes = bytes.dropFirst(written)
        }
    }
}
