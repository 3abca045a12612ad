import NIOCore
import NIOPosix

/// A response as the test client parsed it off the wire.
struct TestResponse: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]
    /// Body bytes counted (equals `body.count` unless the client only counted).
    var bodyLength: Int64
    /// The connection closed before the response was complete.
    var isTruncated: Bool
    /// When the client had the whole response (on its event loop's clock).
    var receivedAt: NIODeadline? = nil

    func header(_ name: String) -> String? {
        self.headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    var bodyText: String { String(decoding: self.body, as: UTF8.self) }
}

/// Errors of the test client.
struct TestClientError: Error, CustomStringConvertible {
    var description: String
}

/// A deliberately simple HTTP/1.1 client over a raw TCP connection: it sends the exact bytes a test
/// writes (so malformed requests can be sent) and parses responses itself, optionally counting the
/// body without keeping it (for gigabyte transfers).
final class RawHTTPClient: Sendable {
    private let channel: any Channel
    private let handler: NIOLoopBound<ResponseCollector>

    private init(channel: any Channel, handler: NIOLoopBound<ResponseCollector>) {
        self.channel = channel
        self.handler = handler
    }

    static func connect(port: Int, group: any EventLoopGroup, keepBody: Bool = true) async throws -> RawHTTPClient {
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector(keepBody: keepBody))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        let handler = try await channel.eventLoop.submit {
            NIOLoopBound(try channel.pipeline.syncOperations.handler(type: ResponseCollector.self), eventLoop: channel.eventLoop)
        }.get()
        return RawHTTPClient(channel: channel, handler: handler)
    }

    func send(_ text: String) async throws {
        try await self.send(Array(text.utf8))
    }

    func send(_ bytes: [UInt8]) async throws {
        var buffer = self.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        try await self.channel.writeAndFlush(buffer)
    }

    /// Sends `text` from the connection's event loop at `deadline`, not from the calling task: a
    /// test that must hit a narrow instant (another timer on the same loop) is not delayed by a hop.
    func send(_ text: String, at deadline: NIODeadline) async throws {
        let channel = self.channel
        let bytes = Array(text.utf8)
        let written = channel.eventLoop.makePromise(of: Void.self)
        channel.eventLoop.scheduleTask(deadline: deadline) {
            var buffer = channel.allocator.buffer(capacity: bytes.count)
            buffer.writeBytes(bytes)
            channel.writeAndFlush(buffer, promise: written)
        }
        try await written.futureResult.get()
    }

    /// Declares that the next response answers a HEAD request (no body follows its head).
    func expectHeadResponse() async throws {
        let handler = self.handler
        try await self.channel.eventLoop.submit { handler.value.headRequests += 1 }.get()
    }

    /// Waits for the next complete response (or the close that truncated it), at most `timeout`.
    func response(timeout: TimeAmount = .seconds(20)) async throws -> TestResponse {
        let handler = self.handler
        let eventLoop = self.channel.eventLoop
        let future = try await eventLoop.submit { handler.value.nextResponse() }.get()
        let timeoutTask = eventLoop.scheduleTask(in: timeout) {
            handler.value.failWaiting(TestClientError(description: "no response within \(timeout)"))
        }
        defer { timeoutTask.cancel() }
        return try await future.get()
    }

    /// Resolves when the server closes the connection (within `timeout`).
    func waitForClose(timeout: TimeAmount = .seconds(20)) async throws {
        let closed = self.channel.closeFuture
        let timer = self.channel.eventLoop.scheduleTask(in: timeout) { [channel] in channel.close(promise: nil) }
        try await closed.get()
        timer.cancel()
    }

    var isActive: Bool { self.channel.isActive }

    func close() async {
        try? await self.channel.close()
    }

    /// One GET as raw bytes.
    static func get(_ path: String, host: String = "example.test", headers: [String] = []) -> String {
        var text = "GET \(path) HTTP/1.1\r\nHost: \(host)\r\n"
        for header in headers { text += header + "\r\n" }
        return text + "\r\n"
    }
}

/// Parses responses incrementally off the byte stream.
final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private enum State {
        case head
        case length(remaining: Int64)
        case chunked
        case untilClose
    }

    private let keepBody: Bool
    private var buffer = ByteBuffer()
    private var state = State.head
    private var current: TestResponse?
    private var ready: [Result<TestResponse, any Error>] = []
    private var waiting: [EventLoopPromise<TestResponse>] = []
    private var eventLoop: (any EventLoop)?
    private var isClosed = false
    var headRequests = 0

    init(keepBody: Bool) {
        self.keepBody = keepBody
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.eventLoop = context.eventLoop
    }

    func nextResponse() -> EventLoopFuture<TestResponse> {
        guard let eventLoop = self.eventLoop else { preconditionFailure("not added") }
        let promise = eventLoop.makePromise(of: TestResponse.self)
        if !self.ready.isEmpty {
            promise.completeWith(self.ready.removeFirst())
        } else if self.isClosed {
            promise.fail(TestClientError(description: "connection closed"))
        } else {
            self.waiting.append(promise)
        }
        return promise.futureResult
    }

    func failWaiting(_ error: any Error) {
        let waiting = self.waiting
        self.waiting.removeAll()
        for promise in waiting { promise.fail(error) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = self.unwrapInboundIn(data)
        self.buffer.writeBuffer(&incoming)
        self.parse()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.isClosed = true
        if var response = self.current {
            if case .untilClose = self.state {
                response.isTruncated = false
            } else {
                response.isTruncated = true
            }
            self.current = nil
            self.deliver(.success(response))
        }
        self.failWaiting(TestClientError(description: "connection closed"))
    }

    private func deliver(_ result: Result<TestResponse, any Error>) {
        let result = result.map { response in
            var response = response
            response.receivedAt = .now()
            return response
        }
        if !self.waiting.isEmpty {
            self.waiting.removeFirst().completeWith(result)
        } else {
            self.ready.append(result)
        }
    }

    private func appendBody(_ bytes: ByteBufferView) {
        self.current?.bodyLength += Int64(bytes.count)
        if self.keepBody { self.current?.body.append(contentsOf: bytes) }
    }

    private func parse() {
        while true {
            switch self.state {
            case .head:
                guard let end = self.buffer.readableBytesView.firstRange(of: Array("\r\n\r\n".utf8)) else { return }
                let length = end.upperBound - self.buffer.readerIndex
                guard let text = self.buffer.readString(length: length) else { return }
                let lines = text.split(separator: "\r\n", omittingEmptySubsequences: true)
                let statusParts = lines.first?.split(separator: " ") ?? []
                let status = statusParts.count > 1 ? Int(statusParts[1]) ?? -1 : -1
                var headers: [(String, String)] = []
                for line in lines.dropFirst() {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters()))
                }
                if (100..<200).contains(status) { continue }
                var response = TestResponse(status: status, headers: headers, body: [], bodyLength: 0, isTruncated: false)
                if self.headRequests > 0 || status == 204 || status == 304 {
                    if self.headRequests > 0 { self.headRequests -= 1 }
                    self.deliver(.success(response))
                    continue
                }
                if let length = response.header("content-length").flatMap({ Int64($0) }) {
                    self.current = response
                    self.state = .length(remaining: length)
                } else if response.header("transfer-encoding")?.lowercased() == "chunked" {
                    self.current = response
                    self.state = .chunked
                } else {
                    response.isTruncated = false
                    self.current = response
                    self.state = .untilClose
                }
            case .length(let remaining):
                let take = Int(min(Int64(self.buffer.readableBytes), remaining))
                if take > 0, let view = self.buffer.readSlice(length: take)?.readableBytesView { self.appendBody(view) }
                let left = remaining - Int64(take)
                if left == 0 {
                    if let response = self.current { self.deliver(.success(response)) }
                    self.current = nil
                    self.state = .head
                    continue
                }
                self.state = .length(remaining: left)
                self.buffer.discardReadBytes()
                return
            case .chunked:
                guard let lineEnd = self.buffer.readableBytesView.firstRange(of: Array("\r\n".utf8)) else { return }
                let lineLength = lineEnd.lowerBound - self.buffer.readerIndex
                guard let sizeLine = self.buffer.getString(at: self.buffer.readerIndex, length: lineLength),
                    let size = Int(sizeLine.split(separator: ";").first ?? "", radix: 16)
                else {
                    self.current?.isTruncated = true
                    return
                }
                let needed = lineLength + 2 + size + 2
                if size == 0 {
                    // Last chunk: wait for the empty trailer line.
                    guard self.buffer.readableBytes >= lineLength + 4 else { return }
                    self.buffer.moveReaderIndex(forwardBy: lineLength + 4)
                    if let response = self.current { self.deliver(.success(response)) }
                    self.current = nil
                    self.state = .head
                    continue
                }
                guard self.buffer.readableBytes >= needed else { return }
                self.buffer.moveReaderIndex(forwardBy: lineLength + 2)
                if let view = self.buffer.readSlice(length: size)?.readableBytesView { self.appendBody(view) }
                self.buffer.moveReaderIndex(forwardBy: 2)
            case .untilClose:
                if let view = self.buffer.readSlice(length: self.buffer.readableBytes)?.readableBytesView {
                    self.appendBody(view)
                }
                self.buffer.discardReadBytes()
                return
            }
        }
    }
}

extension Substring {
    func trimmingCharacters() -> String {
        var slice = self
        while slice.first == " " || slice.first == "\t" { slice = slice.dropFirst() }
        while slice.last == " " || slice.last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}

@available(*, unavailable)
extension ResponseCollector: Sendable {}
