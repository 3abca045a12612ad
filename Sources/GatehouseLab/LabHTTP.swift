import NIOCore
import NIOHTTP1
import NIOPosix

/// What came back for one request, as `curl -i` would show it.
public struct LabHTTPResponse: Sendable {
    public var status: Int?
    public var statusLine: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// Body bytes announced by Content-Length and never received (the connection closed first).
    public var missingBytes: Int
    /// Could not connect, or nothing came back.
    public var error: String?

    /// 2xx and complete.
    public var succeeded: Bool {
        guard let status, error == nil else { return false }
        return (200..<300).contains(status) && self.missingBytes == 0
    }

    public func header(_ name: String) -> String? {
        self.headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    public var bodyText: String { String(decoding: self.body, as: UTF8.self) }

    /// The `curl -i` view: status line, headers, the start of the body, curl's complaint if any.
    public func rendered(bodyLines: Int = 6) -> String {
        guard error == nil || status != nil else { return "curl: \(self.error ?? "no response")" }
        var lines = [self.statusLine]
        for header in self.headers {
            let value = header.value.count > 120 ? String(header.value.prefix(60)) + "… (\(header.value.utf8.count) bytes)" : header.value
            lines.append("\(header.name): \(value)")
        }
        lines.append("")
        var text = self.bodyText.split(separator: "\n", omittingEmptySubsequences: false)
        if text.last?.isEmpty == true { text.removeLast() }
        for line in text.prefix(bodyLines) {
            lines.append(line.count > 160 ? String(line.prefix(160)) + "…" : String(line))
        }
        if text.count > bodyLines { lines.append("[… \(text.count - bodyLines) more lines]") }
        if self.missingBytes > 0 {
            lines.append("curl: (18) transfer closed with \(self.missingBytes) bytes remaining to read")
        }
        return lines.joined(separator: "\n")
    }
}

/// A minimal HTTP/1.1 client for the lab: one request per connection (`Connection: close`), the
/// answer read to the end, so truncation shows. Real sockets; no pooling of its own.
enum LabHTTP {
    static func send(
        host: String = "127.0.0.1", port: Int, method: String = "GET", path: String, body: String? = nil,
        accept: String = "text/plain", timeout: TimeAmount = .seconds(15), group: any EventLoopGroup
    ) async -> LabHTTPResponse {
        var request = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUser-Agent: gatehouse-lab\r\nAccept: \(accept)\r\nConnection: close\r\n"
        if let body {
            request += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        } else {
            request += "\r\n"
        }
        do {
            let collected = group.next().makePromise(of: [UInt8].self)
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(3))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(CollectHandler(promise: collected))
                    }
                }
                .connect(host: host, port: port).get()
            let deadline = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
            var buffer = channel.allocator.buffer(capacity: request.utf8.count)
            buffer.writeString(request)
            try? await channel.writeAndFlush(buffer).get()
            let bytes = try await collected.futureResult.get()
            deadline.cancel()
            return Self.parse(bytes)
        } catch {
            return LabHTTPResponse(
                status: nil, statusLine: "", headers: [], body: [], missingBytes: 0, error: "(7) failed to connect: \(error)")
        }
    }

    /// Splits a whole answer into status, headers and body; decodes chunking; counts what is missing.
    static func parse(_ bytes: [UInt8]) -> LabHTTPResponse {
        guard !bytes.isEmpty else {
            return LabHTTPResponse(status: nil, statusLine: "", headers: [], body: [], missingBytes: 0, error: "(52) Empty reply from server")
        }
        let separator: [UInt8] = [13, 10, 13, 10]
        var headEnd: Int?
        if bytes.count >= 4 {
            for index in 0...(bytes.count - 4) where Array(bytes[index..<index + 4]) == separator {
                headEnd = index
                break
            }
        }
        guard let headEnd else {
            return LabHTTPResponse(
                status: nil, statusLine: "", headers: [], body: [], missingBytes: 0,
                error: "(56) the connection closed before a complete response head")
        }
        let head = String(decoding: bytes[..<headEnd], as: UTF8.self)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let statusLine = lines.isEmpty ? "" : lines.removeFirst()
        let parts = statusLine.split(separator: " ")
        let status = parts.count >= 2 ? Int(parts[1]) : nil
        let headers = lines.compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: " "))
        }
        var body = Array(bytes[(headEnd + 4)...])
        var missing = 0
        let find = { (name: String) in headers.first { $0.name.lowercased() == name }?.value }
        if find("transfer-encoding")?.lowercased().contains("chunked") == true {
            let (decoded, complete) = Self.dechunk(body)
            body = decoded
            missing = complete ? 0 : 1
        } else if let length = find("content-length").flatMap({ Int($0) }) {
            missing = max(0, length - body.count)
        }
        return LabHTTPResponse(status: status, statusLine: statusLine, headers: headers, body: body, missingBytes: missing, error: nil)
    }

    static func dechunk(_ bytes: [UInt8]) -> ([UInt8], Bool) {
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            guard let lineEnd = (index..<bytes.count - 1).first(where: { bytes[$0] == 13 && bytes[$0 + 1] == 10 }) else {
                return (out, false)
            }
            let sizeText = String(decoding: bytes[index..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: " "), radix: 16) else { return (out, false) }
            if size == 0 { return (out, true) }
            let start = lineEnd + 2
            guard start + size <= bytes.count else {
                out += bytes[start...]
                return (out, false)
            }
            out += bytes[start..<start + size]
            index = start + size + 2
        }
        return (out, false)
    }
}

/// Collects every byte until the peer closes.
private final class CollectHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private var bytes: [UInt8] = []
    private var done = false
    private let promise: EventLoopPromise<[UInt8]>

    init(promise: EventLoopPromise<[UInt8]>) {
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = self.unwrapInboundIn(data)
        self.bytes += buffer.readBytes(length: buffer.readableBytes) ?? []
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.finish()
    }

    private func finish() {
        guard !self.done else { return }
        self.done = true
        self.promise.succeed(self.bytes)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.finish()
    }
}

@available(*, unavailable)
extension CollectHandler: Sendable {}
