import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The lab gateway's error log: swift-log lines appended to a real file, one per event, in the
/// shape `2026-11-21T14:05:09Z error gatehouse: MESSAGE key=value …`, so "read the error log" shows
/// what an operator would `tail`.
final class LabFileLog: Sendable {
    let path: String
    private let descriptor: Mutex<Int32>

    init(path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LabError("cannot open the lab's error log \(path): \(String(cString: strerror(errno)))") }
        self.path = path
        self.descriptor = Mutex(fd)
    }

    deinit {
        self.descriptor.withLock { if $0 >= 0 { close($0) } }
    }

    func append(_ line: String) {
        self.descriptor.withLock { fd in
            guard fd >= 0 else { return }
            var bytes = Array(line.utf8)[...]
            while !bytes.isEmpty {
                let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                bytes = bytes.dropFirst(written)
            }
        }
    }

    func logger(level: Logger.Level = .info) -> Logger {
        let handler = LabLogHandler(log: self, logLevel: level)
        return Logger(label: "gatehouse") { _ in handler }
    }

    /// UTC, second resolution: `2026-11-21T14:05:09Z`.
    static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        var buffer = [Int8](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%SZ", &parts)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

struct LabLogHandler: LogHandler {
    let log: LabFileLog
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    init(log: LabFileLog, logLevel: Logger.Level) {
        self.log = log
        self.logLevel = logLevel
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line = "\(LabFileLog.timestamp()) \(event.level) gatehouse: \(event.message)"
        let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            let text = "\(value)"
            line += text.contains(" ") ? " \(key)=\"\(text)\"" : " \(key)=\(text)"
        }
        self.log.append(line + "\n")
    }
}

/// Something the lab could not do.
public struct LabError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
