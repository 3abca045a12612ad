import NIOCore
import NIOHTTP1

/// Builds the pipeline of an accepted connection for its `ChildMode`.
enum OriginPipeline {
    /// Called on the channel's event loop, from the child channel initializer.
    ///
    /// The app's pipeline is NIOHTTP1's server pipeline (with pipelining assistance and error handling),
    /// then `ConnectionPolicyHandler` (request counting, idle close, phase drain), then
    /// `RequestDelayHandler` when the app is slowed down, then `HealthyAppHandler`.
    static func configure(_ channel: any Channel, mode: ChildMode, counters: OriginCounters) throws {
        let pipeline = channel.pipeline.syncOperations
        switch mode {
        case .app(let configuration):
            try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
            try pipeline.addHandler(ConnectionPolicyHandler(
                    idleClose: configuration.idleClose, announces: configuration.announcesIdleClose, counters: counters))
            if let delay = configuration.requestDelay {
                try pipeline.addHandler(RequestDelayHandler(delay: delay))
            }
            try pipeline.addHandler(HealthyAppHandler(name: configuration.name))
        case .misbehave(let misbehavior):
            try pipeline.addHandler(MisbehavingOriginHandler(misbehavior, counters: counters))
        case .refuse:
            channel.close(promise: nil)
        }
    }
}

/// The bytes the origins send: the body pattern and the raw (often broken) responses.
enum OriginPayload {
    /// The size of one streamed body chunk.
    static let chunkSize = 64 * 1024

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// One chunk of the body pattern, shared (never copied) by every streamed body.
    static let patternChunk: ByteBuffer = {
        var buffer = ByteBufferAllocator().buffer(capacity: chunkSize)
        for offset in 0..<chunkSize {
            buffer.writeInteger(patternByte(at: offset))
        }
        return buffer
    }()

    /// Byte `offset` of a pattern body. The period (64) divides `chunkSize`, so every chunk is the same.
    static func patternByte(at offset: Int) -> UInt8 {
        alphabet[Int(offset.magnitude % UInt(alphabet.count))]
    }

    /// The first `length` bytes of a chunk (at most `chunkSize`), sharing `patternChunk`'s storage.
    static func pattern(length: Int) -> ByteBuffer {
        patternChunk.getSlice(at: 0, length: min(max(length, 0), chunkSize)) ?? ByteBuffer()
    }

    /// A head announcing 1000 bytes, followed by only 100 of them.
    static var truncatedResponse: ByteBuffer {
        var buffer = ByteBuffer(
            string: "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n"
        )
        var part = pattern(length: 100)
        buffer.writeBuffer(&part)
        return buffer
    }

    /// The bytes a misbehaviour sends once the request head has arrived (`nil`: it sends nothing).
    static func response(for misbehavior: Misbehavior) -> ByteBuffer? {
        switch misbehavior {
        case .hang, .closeBeforeHead, .resetBeforeHead:
            return nil
        case .closeMidBody, .resetMidBody, .stallMidBody:
            return truncatedResponse
        case .malformedStatusLine:
            return ByteBuffer(string: "HTTP/1.1 abc OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
        case .malformedHeader:
            return ByteBuffer(
                string: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nthis header line has no colon\r\n"
                    + "Connection: close\r\n\r\nok\n"
            )
        case .oversizedHeader(let bytes):
            return oversizedResponse(headerSectionBytes: bytes)
        case .badChunking:
            return ByteBuffer(
                string: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                    + "5\r\nhello\r\nzz;not-hex\r\nhello\r\n0\r\n\r\n"
            )
        }
    }

    /// A valid response whose header section, status line through blank line, is `headerSectionBytes`
    /// long: the padding sits in one `X-Padding` header (or is empty when the size is below the minimum).
    static func oversizedResponse(headerSectionBytes: Int) -> ByteBuffer {
        let prefix =
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\nX-Padding: "
        let suffix = "\r\n\r\n"
        let padding = max(0, headerSectionBytes - prefix.utf8.count - suffix.utf8.count)
        var buffer = ByteBufferAllocator().buffer(capacity: prefix.utf8.count + padding + suffix.utf8.count + 3)
        buffer.writeString(prefix)
        buffer.writeRepeatingByte(UInt8(ascii: "a"), count: padding)
        buffer.writeString(suffix)
        buffer.writeString("ok\n")
        return buffer
    }
}
