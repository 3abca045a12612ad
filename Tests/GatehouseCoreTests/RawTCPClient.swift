import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// A tiny raw TCP client for origin tests: it sends bytes and collects what comes back until the peer
/// closes, a condition holds, or a deadline passes (the client then closes the connection itself, so no
/// test can hang on a silent peer).
enum RawTCPClient {
    /// What one session saw.
    struct Outcome {
        /// Every byte received, in order.
        var received: [UInt8]
        /// The error that ended the connection (e.g. `IOError` ECONNRESET), if any.
        var error: (any Error)?
        /// Whether the client's deadline closed the connection.
        var timedOut: Bool

        var text: String { String(decoding: self.received, as: UTF8.self) }
    }

    /// Connects to `127.0.0.1:port`, runs `body`, closes. A connect error (ECONNREFUSED) is thrown.
    static func session(
        port: Int,
        group: any EventLoopGroup,
        deadline: TimeAmount = .seconds(5),
        _ body: (Session) async throws -> Void
    ) async throws -> Outcome {
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: port)
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(deadline)
            .connect(to: address) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let timedOut = TimedOutFlag()
        let underlying = channel.channel
        let timer = underlying.eventLoop.scheduleTask(in: deadline) {
            timedOut.set()
            underlying.close(promise: nil)
        }
        defer { timer.cancel() }
        var outcome = Outcome(received: [], error: nil, timedOut: false)
        try await channel.executeThenClose { inbound, outbound in
            let session = Session(iterator: inbound.makeAsyncIterator(), outbound: outbound)
            try await body(session)
            outcome.received = session.received
            outcome.error = session.error
        }
        outcome.timedOut = timedOut.isSet
        return outcome
    }

    /// The live side of a `RawTCPClient.session`: send, then read until a condition or the end.
    final class Session {
        private var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
        private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
        private(set) var received: [UInt8] = []
        private(set) var error: (any Error)?
        private(set) var ended = false

        init(
            iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator,
            outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
        ) {
            self.iterator = iterator
            self.outbound = outbound
        }

        func send(_ text: String) async throws {
            try await self.outbound.write(ByteBuffer(string: text))
        }

        /// Reads until `done(received)` holds (→ true) or the connection ends (→ false).
        @discardableResult
        func read(until done: ([UInt8]) -> Bool) async -> Bool {
            while !done(self.received) {
                guard !self.ended else { return false }
                do {
                    if let chunk = try await self.iterator.next() {
                        self.received += chunk.readableBytesView
                    } else {
                        self.ended = true
                    }
                } catch {
                    self.error = error
                    self.ended = true
                }
            }
            return true
        }

        /// Reads until the connection ends (peer close, error or deadline).
        func readToEnd() async {
            await self.read { _ in false }
        }
    }

    /// Set by the deadline timer on the event loop, read by the test afterwards.
    final class TimedOutFlag: Sendable {
        private let value = Atomic<Bool>(false)
        var isSet: Bool { self.value.load(ordering: .sequentiallyConsistent) }
        func set() { self.value.store(true, ordering: .sequentiallyConsistent) }
    }
}

/// A response parsed from raw bytes, leniently: enough to assert on what an origin sent.
struct RawHTTPResponse {
    let statusLine: String
    let headers: [(name: String, value: String)]
    /// The header section's length, status line through blank line.
    let headLength: Int
    /// Everything after the header section.
    let bodyBytes: [UInt8]

    init?(_ bytes: [UInt8]) {
        let terminator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let end = bytes.indices.first(where: { bytes[$0...].starts(with: terminator) }) else { return nil }
        let lines = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        guard let statusLine = lines.first else { return nil }
        self.statusLine = statusLine
        self.headers = lines.dropFirst().map { line in
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            return (parts.first ?? "", parts.count > 1 ? parts[1] : "")
        }
        self.headLength = end + terminator.count
        self.bodyBytes = Array(bytes[self.headLength...])
    }

    var body: String { String(decoding: self.bodyBytes, as: UTF8.self) }

    func header(_ name: String) -> String? {
        self.headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// Whether the body announced by `Content-Length` has fully arrived.
    var isComplete: Bool {
        guard let length = self.header("content-length").flatMap({ Int($0) }) else { return false }
        return self.bodyBytes.count >= length
    }

    /// Head plus `Content-Length` body: where the next response starts.
    var totalLength: Int {
        self.headLength + (self.header("content-length").flatMap { Int($0) } ?? self.bodyBytes.count)
    }

    /// The body decoded from chunked transfer coding (`nil` if it is not valid chunked coding).
    var dechunkedBody: [UInt8]? {
        var body: [UInt8] = []
        var index = 0
        let bytes = self.bodyBytes
        while true {
            guard
                let lineEnd = (index..<max(index, bytes.count - 1)).first(where: {
                    bytes[$0] == 13 && bytes[$0 + 1] == 10
                })
            else { return nil }
            let sizeText = String(decoding: bytes[index..<lineEnd], as: UTF8.self)
            guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16) else { return nil }
            index = lineEnd + 2
            if size == 0 { return body }
            guard index + size + 2 <= bytes.count else { return nil }
            body += bytes[index..<(index + size)]
            index += size + 2
        }
    }
}
