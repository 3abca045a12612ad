import Foundation

/// Why an input could not be read (exit code 2).
struct InputError: Error, CustomStringConvertible {
    var description: String
}

/// Streams the lines of files, gzip files and stdin in fixed-size chunks: nothing holds more than
/// one chunk and one partial line, whatever the size of the input.
///
/// Gzip is recognised by its magic bytes (not the file name) and decompressed by a `gzip -dc`
/// child process, so no compression library is linked into Gatehouse.
enum InputReader {
    static let chunkSize = 1 << 20

    /// Calls `body` for every line of `path` (`-` = stdin).
    static func forEachLine(path: String, _ body: (LogLine) -> Void) throws {
        let handle: FileHandle
        if path == "-" {
            handle = FileHandle.standardInput
        } else {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw InputError(description: "no such file")
            }
            guard !isDirectory.boolValue else { throw InputError(description: "is a directory") }
            guard let opened = FileHandle(forReadingAtPath: path) else {
                throw InputError(description: "permission denied")
            }
            handle = opened
        }
        defer { if path != "-" { try? handle.close() } }
        var splitter = LineSplitter()
        guard let head = try readChunk(handle), !head.isEmpty else { return }
        if head.count >= 2, head[head.startIndex] == 0x1f, head[head.startIndex + 1] == 0x8b {
            try gunzip(path: path, head: head, handle: handle) { splitter.feed($0, body) }
        } else {
            splitter.feed(head, body)
            while let chunk = try readChunk(handle), !chunk.isEmpty { splitter.feed(chunk, body) }
        }
        splitter.finish(body)
    }

    static func readChunk(_ handle: FileHandle) throws -> Data? {
        try handle.read(upToCount: chunkSize)
    }

    /// Decompresses with `gzip -dc`. A file is passed by path; stdin (whose first chunk is already
    /// read) is fed to gzip's stdin from a second thread while this one reads gzip's output.
    static func gunzip(path: String, head: Data, handle: FileHandle, _ feed: (Data) -> Void) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        var input: Pipe?
        if path == "-" {
            process.arguments = ["gzip", "-dc"]
            let pipe = Pipe()
            process.standardInput = pipe
            input = pipe
        } else {
            process.arguments = ["gzip", "-dc", "--", path]
        }
        do {
            try process.run()
        } catch {
            throw InputError(description: "cannot run gzip to decompress it: \(error)")
        }
        if let input {
            let writer = input.fileHandleForWriting
            let source = handle
            let thread = Thread {
                try? writer.write(contentsOf: head)
                while let chunk = try? source.read(upToCount: chunkSize), !chunk.isEmpty {
                    guard (try? writer.write(contentsOf: chunk)) != nil else { break }
                }
                try? writer.close()
            }
            thread.start()
        }
        let reader = output.fileHandleForReading
        while let chunk = try reader.read(upToCount: chunkSize), !chunk.isEmpty { feed(chunk) }
        process.waitUntilExit()
        if process.terminationStatus != 0 {
            let message = (try? errors.fileHandleForReading.readToEnd()).flatMap { $0 }.map {
                String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            throw InputError(description: "gzip failed: \(message ?? "exit status \(process.terminationStatus)")")
        }
    }
}

/// Cuts chunks into lines, carrying the partial line at a chunk's end over to the next chunk.
struct LineSplitter {
    /// A line longer than this is cut: one runaway line must not hold the whole input in memory.
    static let maxLineLength = 1 << 20
    var carry: [UInt8] = []

    mutating func feed(_ data: Data, _ body: (LogLine) -> Void) {
        data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            let chunk = LogLine(bytes: bytes)
            var start = 0
            while let newline = chunk.firstIndex(of: UInt8(ascii: "\n"), from: start) {
                if carry.isEmpty {
                    Self.emit(UnsafeBufferPointer(rebasing: bytes[start..<newline]), body)
                } else {
                    carry.append(contentsOf: bytes[start..<newline])
                    carry.withUnsafeBufferPointer { Self.emit($0, body) }
                    carry.removeAll(keepingCapacity: true)
                }
                start = newline + 1
            }
            if start < bytes.count {
                carry.append(contentsOf: bytes[start..<bytes.count])
                if carry.count > Self.maxLineLength {
                    carry.withUnsafeBufferPointer { Self.emit($0, body) }
                    carry.removeAll(keepingCapacity: true)
                }
            }
        }
    }

    mutating func finish(_ body: (LogLine) -> Void) {
        guard !carry.isEmpty else { return }
        carry.withUnsafeBufferPointer { Self.emit($0, body) }
        carry.removeAll()
    }

    /// Hands one line to `body`, without a trailing CR (CRLF files).
    static func emit(_ bytes: UnsafeBufferPointer<UInt8>, _ body: (LogLine) -> Void) {
        if let last = bytes.last, last == UInt8(ascii: "\r") {
            body(LogLine(bytes: UnsafeBufferPointer(rebasing: bytes.dropLast())))
        } else {
            body(LogLine(bytes: bytes))
        }
    }
}
