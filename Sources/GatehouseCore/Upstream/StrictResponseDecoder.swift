import NIOCore
import NIOHTTP1

/// The upstream side's HTTP/1.1 response parser, in place of NIOHTTP1's `HTTPResponseDecoder`.
///
/// Why not llhttp here: a gateway must know exactly where a response ends within the bytes it
/// read, so that bytes after it (a desynchronised or hostile upstream) can never become the
/// response to the next request on a pooled connection — llhttp keeps a partial next message in
/// its own state where no caller can see it. This parser is strict (RFC 9112, no obs-fold, no
/// bare CR or LF, one framing, `chunked` only) and bounded (`max_response_header_bytes` for the
/// head and for trailers, 4 KiB for a chunk-size line). Body bytes are passed on as slices of the
/// read buffer, never copied.
///
/// It emits `HTTPClientResponsePart`s like NIOHTTP1's decoder: 1xx heads (except 101) are passed
/// on before the final head, without an `.end`. It learns which requests are outstanding from the
/// writes it observes, so HEAD responses have no body and bytes with no request outstanding are
/// refused.
struct StrictResponseDecoder: WriteObservingByteToMessageDecoder {
    typealias InboundOut = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart

    /// More 1xx responses than this before a final one: the upstream is not answering.
    static let maxInformationalResponses = 16
    /// Longest chunk-size line (size, extensions, CRLF).
    static let maxChunkLineBytes = 4096

    private enum State {
        /// Between responses, or reading a head.
        case head
        case body(remaining: Int64)
        case chunkLine
        case chunkData(remaining: Int64)
        /// The CRLF after a chunk's data.
        case chunkEnd
        case trailers
        case untilClose
        /// The connection carries nothing more (switched protocols, or bytes followed a response):
        /// whatever arrives is dropped while it closes.
        case discarding
        /// After a 101: the bytes are the new protocol's. They stay in the buffer, undecoded, and
        /// are passed on as they are when the decoder leaves the pipeline (a WebSocket tunnel),
        /// or dropped with the connection (a 101 the exchange refuses).
        case switched
    }

    private var state = State.head
    private var pendingMethods = CircularBuffer<HTTPMethod>(initialCapacity: 2)
    private let maxHeaderBytes: Int
    /// Told when response bytes arrive, before any is decoded (the keep-alive race's "no byte yet").
    private let progress: ResponseProgress?
    /// Resumable scan of a head or trailer section: bytes already checked, start of the current line.
    private var scanned = 0
    private var lineStart = 0
    private var informationalCount = 0

    init(maxHeaderBytes: Int, progress: ResponseProgress? = nil) {
        self.progress = progress
        self.maxHeaderBytes = maxHeaderBytes
    }

    mutating func write(data: HTTPClientRequestPart) {
        if case .head(let head) = data { self.pendingMethods.append(head.method) }
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if buffer.readableBytes > 0 { self.progress?.bytesReceived = true }
        switch self.state {
        case .head:
            guard buffer.readableBytes > 0 else { return .needMoreData }
            guard let method = self.pendingMethods.first else {
                throw ResponseDecodingError(.unsolicited, "the upstream sent bytes while no request was outstanding")
            }
            guard let length = try self.scanSection(buffer, isTrailer: false) else { return .needMoreData }
            let parsed = try buffer.withUnsafeReadableBytes { bytes in
                try ResponseHeadParser.parseHead(UnsafeRawBufferPointer(rebasing: bytes[..<length]))
            }
            buffer.moveReaderIndex(forwardBy: length)
            try self.headReceived(parsed, method: method, context: context, buffer: &buffer)
            return .continue
        case .body(let remaining):
            guard buffer.readableBytes > 0 else { return .needMoreData }
            let count = Int(min(Int64(buffer.readableBytes), remaining))
            guard let slice = buffer.readSlice(length: count) else { return .needMoreData }
            if Int64(count) == remaining {
                context.fireChannelRead(Self.wrapInboundOut(.body(slice)))
                self.messageEnded(trailers: nil, context: context, buffer: buffer)
            } else {
                self.state = .body(remaining: remaining - Int64(count))
                context.fireChannelRead(Self.wrapInboundOut(.body(slice)))
            }
            return .continue
        case .chunkLine:
            guard let length = try Self.chunkLineLength(buffer) else { return .needMoreData }
            let size = try buffer.withUnsafeReadableBytes { bytes in
                try ResponseHeadParser.parseChunkLine(UnsafeRawBufferPointer(rebasing: bytes[..<(length - 2)]))
            }
            buffer.moveReaderIndex(forwardBy: length)
            self.state = size == 0 ? .trailers : .chunkData(remaining: size)
            return .continue
        case .chunkData(let remaining):
            guard buffer.readableBytes > 0 else { return .needMoreData }
            let count = Int(min(Int64(buffer.readableBytes), remaining))
            guard let slice = buffer.readSlice(length: count) else { return .needMoreData }
            self.state = Int64(count) == remaining ? .chunkEnd : .chunkData(remaining: remaining - Int64(count))
            context.fireChannelRead(Self.wrapInboundOut(.body(slice)))
            return .continue
        case .chunkEnd:
            guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return .needMoreData }
            guard first == HTTPSyntax.cr else {
                throw ResponseDecodingError(.invalidChunking, "chunk data is longer than its chunk size")
            }
            guard let second = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self) else {
                return .needMoreData
            }
            guard second == HTTPSyntax.lf else {
                throw ResponseDecodingError(.invalidChunking, "chunk data is not followed by CRLF")
            }
            buffer.moveReaderIndex(forwardBy: 2)
            self.state = .chunkLine
            return .continue
        case .trailers:
            guard buffer.readableBytes > 0 else { return .needMoreData }
            guard let length = try self.scanSection(buffer, isTrailer: true) else { return .needMoreData }
            let trailers = try buffer.withUnsafeReadableBytes { bytes in
                try ResponseHeadParser.parseTrailers(UnsafeRawBufferPointer(rebasing: bytes[..<length]))
            }
            buffer.moveReaderIndex(forwardBy: length)
            self.messageEnded(trailers: trailers, context: context, buffer: buffer)
            return .continue
        case .untilClose:
            guard buffer.readableBytes > 0, let slice = buffer.readSlice(length: buffer.readableBytes) else {
                return .needMoreData
            }
            context.fireChannelRead(Self.wrapInboundOut(.body(slice)))
            return .continue
        case .discarding:
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        case .switched:
            return .needMoreData
        }
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        if case .switched = self.state {
            // Removed for a tunnel: the new protocol's first bytes go on, unparsed, to the relay.
            // At the connection's end (a refused 101) they are dropped: no handler after this
            // one takes raw bytes then.
            if !seenEOF, buffer.readableBytes > 0, let rest = buffer.readSlice(length: buffer.readableBytes) {
                context.fireChannelRead(NIOAny(rest))
            } else {
                buffer.moveReaderIndex(to: buffer.writerIndex)
            }
            return .needMoreData
        }
        if try self.decode(context: context, buffer: &buffer) == .continue { return .continue }
        // Nothing more can be parsed and nothing more will come.
        switch self.state {
        case .untilClose:
            // The close is this body's end: a complete response.
            self.state = .discarding
            context.fireChannelRead(Self.wrapInboundOut(.end(nil)))
        case .head:
            if !self.pendingMethods.isEmpty && (buffer.readableBytes > 0 || self.informationalCount > 0) {
                throw ResponseDecodingError(
                    .incomplete, "the upstream closed the connection in the middle of the response head")
            }
        case .body, .chunkLine, .chunkData, .chunkEnd, .trailers:
            throw ResponseDecodingError(
                .incomplete, "the upstream closed the connection before the end of the response body")
        case .discarding, .switched:
            break
        }
        return .needMoreData
    }

    // MARK: - Heads

    private mutating func headReceived(
        _ parsed: ResponseHeadParser.Head, method: HTTPMethod, context: ChannelHandlerContext, buffer: inout ByteBuffer
    ) throws {
        self.resetScan()
        let status = Int(parsed.head.status.code)
        if status == 101 {
            _ = try ResponseFraming.decide(
                status: status, isHeadRequest: method == .HEAD, version: parsed.head.version,
                contentLength: parsed.contentLength, transferEncoding: parsed.transferEncoding)
            // Nothing after it is parsed as HTTP: the exchange either relays the new protocol
            // (an Upgrade it forwarded) or refuses it with a 502 and closes the connection.
            self.pendingMethods.removeFirst()
            self.state = .switched
            context.fireUserInboundEventTriggered(UpstreamConnectionUnusable(reason: .switchedProtocols))
            context.fireChannelRead(Self.wrapInboundOut(.head(parsed.head)))
            return
        }
        if status < 200 {
            // A 1xx has no body, but ambiguous framing fields in it are refused all the same: they
            // would be passed on (a 103) or mean the upstream is confused.
            _ = try ResponseFraming.decide(
                status: status, isHeadRequest: method == .HEAD, version: parsed.head.version,
                contentLength: parsed.contentLength, transferEncoding: parsed.transferEncoding)
            self.informationalCount += 1
            guard self.informationalCount <= Self.maxInformationalResponses else {
                throw ResponseDecodingError(
                    .unsolicited, "more than \(Self.maxInformationalResponses) informational (1xx) responses")
            }
            context.fireChannelRead(Self.wrapInboundOut(.head(parsed.head)))
            return
        }
        let framing = try ResponseFraming.decide(
            status: status, isHeadRequest: method == .HEAD, version: parsed.head.version,
            contentLength: parsed.contentLength, transferEncoding: parsed.transferEncoding)
        self.pendingMethods.removeFirst()
        self.informationalCount = 0
        switch framing {
        case .none:
            context.fireChannelRead(Self.wrapInboundOut(.head(parsed.head)))
            self.messageEnded(trailers: nil, context: context, buffer: buffer)
        case .length(let length):
            self.state = .body(remaining: length)
            context.fireChannelRead(Self.wrapInboundOut(.head(parsed.head)))
        case .chunked:
            self.state = .chunkLine
            context.fireChannelRead(Self.wrapInboundOut(.head(parsed.head)))
        case .untilClose:
            self.state = .untilClose
            context.fireUserInboundEventTriggered(UpstreamConnectionUnusable(reason: .closeDelimited))
            context.fireChannelRead(Self.wrapInboundOut(.head(parsed.head)))
        }
    }

    /// The response is complete. Anything already read beyond it is not the start of another
    /// response (none was asked for): the connection is marked unusable *before* `.end` is passed
    /// on, so the exchange never returns it to the pool, and the rest is dropped.
    private mutating func messageEnded(trailers: HTTPHeaders?, context: ChannelHandlerContext, buffer: ByteBuffer) {
        self.resetScan()
        if buffer.readableBytes > 0 {
            self.state = .discarding
            context.fireUserInboundEventTriggered(UpstreamConnectionUnusable(reason: .bytesAfterResponse))
        } else {
            self.state = .head
        }
        context.fireChannelRead(Self.wrapInboundOut(.end(trailers)))
    }

    // MARK: - Scanning

    private mutating func resetScan() {
        self.scanned = 0
        self.lineStart = 0
    }

    /// The length of the header (or trailer) section at the start of `buffer`, through its empty
    /// line, or nil while it is incomplete. Each call resumes where the previous one stopped, so a
    /// head arriving byte by byte is still scanned once. Every LF must follow a CR.
    private mutating func scanSection(_ buffer: ByteBuffer, isTrailer: Bool) throws -> Int? {
        let limit = self.maxHeaderBytes
        let found: Int? = try buffer.withUnsafeReadableBytes { bytes in
            let end = min(bytes.count, limit)
            var index = self.scanned
            while index < end {
                guard bytes[index] == HTTPSyntax.lf else {
                    index += 1
                    continue
                }
                guard index > self.lineStart, bytes[index - 1] == HTTPSyntax.cr else {
                    throw ResponseDecodingError(.malformedHead, "bare LF (line end without CR) in the response head")
                }
                if index - self.lineStart == 1 { return index + 1 }
                self.lineStart = index + 1
                index += 1
            }
            self.scanned = index
            return nil
        }
        if let found { return found }
        if buffer.readableBytes >= limit {
            throw ResponseDecodingError(
                .headerSectionTooLarge,
                isTrailer
                    ? "response trailers larger than max_response_header_bytes (\(limit))"
                    : "response head larger than max_response_header_bytes (\(limit))")
        }
        return nil
    }

    /// The length of the chunk-size line at the start of `buffer`, CRLF included, or nil while incomplete.
    private static func chunkLineLength(_ buffer: ByteBuffer) throws -> Int? {
        let found: Int? = try buffer.withUnsafeReadableBytes { bytes in
            let end = min(bytes.count, Self.maxChunkLineBytes)
            guard let lf = bytes[..<end].firstIndex(of: HTTPSyntax.lf) else { return nil }
            guard lf > 0, bytes[lf - 1] == HTTPSyntax.cr else {
                throw ResponseDecodingError(.invalidChunking, "bare LF in a chunk-size line")
            }
            return lf + 1
        }
        if let found { return found }
        if buffer.readableBytes >= Self.maxChunkLineBytes {
            throw ResponseDecodingError(.invalidChunking, "chunk-size line longer than \(Self.maxChunkLineBytes) bytes")
        }
        return nil
    }
}

/// Whether the upstream sent any byte since the connection was last handed to an exchange: shared
/// by the decoder (which sees bytes) and the ``UpstreamHandler`` (which sees only decoded parts).
final class ResponseProgress {
    var bytesReceived = false
}

@available(*, unavailable)
extension ResponseProgress: Sendable {}
