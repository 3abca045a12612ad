import GatehouseConfig
import GatehouseDoctor
import Synchronization

/// What `gatehouse monitor` prints while it runs: on a terminal, a live status table redrawn after each
/// probe; otherwise (a pipe, a log collector) one line per state change.
public final class MonitorConsole: Sendable {
    /// How to show progress.
    public enum Mode: Sendable, Hashable {
        /// The live table, with ANSI cursor control (and colour when asked).
        case table(color: Bool)
        /// One line per state change on standard output; webhook failures on standard error.
        case log
        /// Nothing (tests, `--once`).
        case silent
    }

    /// The webhook failures the table keeps in its footer.
    static let footerLines = 3

    public let mode: Mode
    private let write: @Sendable (String) -> Void
    private let writeError: @Sendable (String) -> Void
    private let redraws: (stream: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation)
    private let recentProblems = Mutex<[String]>([])

    /// - Parameters:
    ///   - write: standard output.
    ///   - writeError: standard error.
    public init(
        mode: Mode, write: @escaping @Sendable (String) -> Void = { _ in },
        writeError: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.mode = mode
        self.write = write
        self.writeError = writeError
        // Newest only: probes finishing faster than the terminal redraws coalesce into one redraw.
        self.redraws = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// The monitor started: the table shows its first frame at once; the log says what runs.
    func start(header: String) {
        switch self.mode {
        case .table: self.redraws.continuation.yield()
        case .log: self.write(header + "\n")
        case .silent: break
        }
    }

    /// A probe finished: `before` and `after` are the target's status around it.
    func probed(before: TargetStatus, after: TargetStatus) {
        switch self.mode {
        case .table: self.redraws.continuation.yield()
        case .log:
            if let line = Self.stateChangeLine(before: before, after: after) { self.write(line + "\n") }
        case .silent: break
        }
    }

    /// A re-notification went out (the state did not change, but the log says the outage goes on).
    func renotified(_ alert: Alert) {
        if case .log = self.mode { self.write(alert.logLine + "\n") }
    }

    /// Something went wrong beside the probes (a webhook delivery).
    func problem(_ message: String) {
        switch self.mode {
        case .table:
            self.recentProblems.withLock { lines in
                lines.append(WallTime.now().iso8601 + " " + message)
                lines = Array(lines.suffix(Self.footerLines))
            }
            self.redraws.continuation.yield()
        case .log: self.writeError(WallTime.now().iso8601 + " " + message + "\n")
        case .silent: break
        }
    }

    /// Redraws the table whenever asked, until ``finish()``; returns at once in the other modes.
    func run(board: MonitorBoard, header: String) async {
        guard case .table(let color) = self.mode else { return }
        // Alternate screen, hidden cursor: the table owns the terminal while it runs.
        self.write("\u{1B}[?1049h\u{1B}[?25l")
        for await _ in self.redraws.stream {
            let footer = self.recentProblems.withLock { $0 }
            let table = StatusTable.render(board.snapshot(), now: .now(), color: color)
            var screen = "\u{1B}[H" + header + "\u{1B}[K\n\u{1B}[K\n"
            screen += table.split(separator: "\n", omittingEmptySubsequences: false).map { $0 + "\u{1B}[K" }.joined(separator: "\n")
            for line in footer { screen += "\n" + line + "\u{1B}[K" }
            self.write(screen + "\u{1B}[J")
        }
        self.write("\u{1B}[?25h\u{1B}[?1049l")
        // The last table stays on the normal screen, so the final state is visible after Ctrl-C.
        self.write(StatusTable.render(board.snapshot(), now: .now(), color: color) + "\n")
    }

    /// Ends ``run(board:header:)``.
    func finish() {
        self.redraws.continuation.finish()
    }

    /// `… shop DOWN: connection_refused at tcp — nothing listens on … (2 failed probes in a row)`, or
    /// `nil` when the state kept its kind.
    static func stateChangeLine(before: TargetStatus, after: TargetStatus) -> String? {
        guard before.machine.label != after.machine.label, let result = after.last else { return nil }
        let name = after.target.name
        let time = result.time.iso8601
        switch after.machine.state {
        case .unknown: return nil
        case .up:
            let detail = result.run.status.map { "\($0) in \(StatusTable.latency(result.run.total))" } ?? "ok"
            if before.machine.isDown, let since = before.since {
                return "\(time) \(name) UP: recovered after \(StatusTable.age(from: since, to: result.time)) down; \(detail)"
            }
            return "\(time) \(name) UP: \(detail)"
        case .pending(let failures, let cause):
            return "\(time) \(name) PENDING: \(cause.short) — \(cause.summary) (\(failures) of \(after.machine.retries) failed probes)"
        case .down(let cause):
            let count = after.machine.retries == 1 ? "1 failed probe" : "\(after.machine.retries) failed probes in a row"
            return "\(time) \(name) DOWN: \(cause.short) — \(cause.summary) (\(count)); fix: \(cause.fix)"
        }
    }
}

/// The live table: one row per target.
public enum StatusTable {
    static let columns = ["TARGET", "STATE", "LAST", "CAUSE", "LATENCY", "SINCE"]
    static let maximumWidths = [32, 7, 4, 72, 8, 9]

    public static func render(_ statuses: [TargetStatus], now: WallTime, color: Bool) -> String {
        let rows = statuses.map { status -> [String] in
            [
                status.target.name,
                status.machine.label,
                status.last.map { $0.run.status.map(String.init) ?? "-" } ?? "",
                status.machine.cause?.short ?? (status.last?.cause?.short ?? "-"),
                status.last.map { Self.latency($0.run.total) } ?? "",
                status.since.map { Self.age(from: $0, to: now) } ?? "",
            ].enumerated().map { Self.clip($0.element, to: Self.maximumWidths[$0.offset]) }
        }
        let widths = Self.columns.indices.map { column in
            ([Self.columns[column]] + rows.map { $0[column] }).map(\.count).max() ?? 0
        }
        func line(_ cells: [String], state: String?) -> String {
            cells.enumerated().map { index, cell in
                let padded = cell + String(repeating: " ", count: max(0, widths[index] - cell.count))
                guard index == 1, color, let state else { return padded }
                let code = state == "UP" ? "32" : state == "DOWN" ? "1;31" : state == "PENDING" ? "33" : "2"
                return "\u{1B}[\(code)m\(padded)\u{1B}[0m"
            }.joined(separator: "  ").trimmedTrailingSpaces
        }
        var out = line(Self.columns, state: nil)
        for row in rows { out += "\n" + line(row, state: row[1]) }
        return out
    }

    /// `0.4 ms`, `12 ms`, `1.5 s`.
    static func latency(_ duration: Duration) -> String {
        let milliseconds = MetricsExposition.seconds(duration) * 1000
        if milliseconds < 10 { return String(Double(Int((milliseconds * 10).rounded())) / 10) + " ms" }
        if milliseconds < 1000 { return "\(Int(milliseconds.rounded())) ms" }
        return String(Double(Int((milliseconds / 100).rounded())) / 10) + " s"
    }

    /// `42s`, `3m12s`, `2h05m`, `3d04h`.
    static func age(from start: WallTime, to end: WallTime) -> String {
        let seconds = max(0, end.seconds - start.seconds)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m\(two(seconds % 60))s" }
        if seconds < 86400 { return "\(seconds / 3600)h\(two(seconds % 3600 / 60))m" }
        return "\(seconds / 86400)d\(two(seconds % 86400 / 3600))h"
    }

    private static func clip(_ text: String, to width: Int) -> String {
        text.count <= width ? text : String(text.prefix(width - 1)) + "…"
    }
}

extension String {
    fileprivate var trimmedTrailingSpaces: String {
        var slice = Substring(self)
        while slice.last == " " { slice = slice.dropLast() }
        return String(slice)
    }
}
