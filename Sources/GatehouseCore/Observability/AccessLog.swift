import GatehouseConfig
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where access-log lines go: standard output, a file, or nowhere. Shared by all event loops;
/// each loop batches its lines (``AccessLogBuffer``) and writes them once per loop iteration.
public final class AccessLogSink: Sendable {
    private let descriptor: Int32?
    private let ownsDescriptor: Bool
    private let lock = Mutex(())

    /// Opens the target. A file is created if missing and appended to.
    ///
    /// - Throws: ``AccessLogError`` when the file cannot be opened.
    public init(target: AccessLogTarget) throws(AccessLogError) {
        switch target {
        case .off:
            self.descriptor = nil
            self.ownsDescriptor = false
        case .stdout:
            self.descriptor = STDOUT_FILENO
            self.ownsDescriptor = false
        case .file(let path):
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                throw AccessLogError(path: path, reason: String(cString: strerror(errno)))
            }
            self.descriptor = fd
            self.ownsDescriptor = true
        }
    }

    deinit {
        if self.ownsDescriptor, let descriptor { close(descriptor) }
    }

    /// Whether lines are written at all (skip formatting when not).
    public var isEnabled: Bool { self.descriptor != nil }

    /// Writes the bytes whole; lines from several loops never interleave mid-line.
    func write(_ bytes: [UInt8]) {
        guard let descriptor, !bytes.isEmpty else { return }
        self.lock.withLock { _ in
            bytes.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = Glibc.write(descriptor, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        return  // a full disk must not stop the proxy; the lines are lost, traffic is not
                    }
                    offset += written
                }
            }
        }
    }
}

/// Why the access log could not be opened.
public struct AccessLogError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "cannot open access log \(self.path): \(self.reason)" }
}

/// One event loop's pending access-log lines, written together at the end of the loop iteration.
final class AccessLogBuffer {
    private let sink: AccessLogSink
    private let eventLoop: any EventLoop
    private var pending: [UInt8] = []
    private var isFlushScheduled = false

    init(sink: AccessLogSink, eventLoop: any EventLoop) {
        self.sink = sink
        self.eventLoop = eventLoop
    }

    var isEnabled: Bool { self.sink.isEnabled }

    func append(_ line: String) {
        guard self.sink.isEnabled else { return }
        self.pending.append(contentsOf: line.utf8)
        if self.pending.count >= 64 * 1024 {
            self.flush()
        } else if !self.isFlushScheduled {
            self.isFlushScheduled = true
            self.eventLoop.assumeIsolated().execute { [self] in self.flush() }
        }
    }

    func flush() {
        self.isFlushScheduled = false
        guard !self.pending.isEmpty else { return }
        self.sink.write(self.pending)
        self.pending.removeAll(keepingCapacity: self.pending.count <= 64 * 1024)
    }
}

@available(*, unavailable)
extension AccessLogBuffer: Sendable {}
