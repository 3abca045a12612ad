import Foundation
import GatehouseCore
import GatehouseOrigins
import NIOCore
import Testing

/// Bodies stream through with back-pressure: a gigabyte each way passes with bounded memory.
/// Serialized so the peak-RSS reading is not inflated by other tests of this suite.
@Suite(.serialized) struct StreamingTests {
    /// 1 GiB unless `GATEHOUSE_STREAM_BYTES` says otherwise (for a quicker local run).
    static let size: Int64 = ProcessInfo.processInfo.environment["GATEHOUSE_STREAM_BYTES"].flatMap { Int64($0) }
        ?? 1 << 30
    /// Far below the body size: a proxy that buffered the body would blow through it.
    static let allowedGrowthKiB = 256 * 1024

    @Test func gigabyteDownloadStreamsWithBoundedMemory() async throws {
        try await withGateway([.healthy(name: "a")]) { gateway in
            let before = Self.peakRSSKiB()
            let client = try await gateway.client(keepBody: false)
            try await client.send(RawHTTPClient.get("/bytes/\(Self.size)"))
            let response = try await client.response(timeout: .seconds(600))
            await client.close()
            #expect(response.status == 200)
            #expect(!response.isTruncated)
            #expect(response.bodyLength == Self.size)
            let growth = Self.peakRSSKiB() - before
            #expect(growth < Self.allowedGrowthKiB, "peak RSS grew by \(growth) KiB")
            let log = try #require(try await gateway.accessLog(atLeast: 1).first)
            #expect(log["bytes"] as? Int64 == Self.size || log["bytes"] as? Int == Int(Self.size))
        }
    }

    @Test func gigabyteUploadStreamsWithBoundedMemory() async throws {
        try await withGateway([.healthy(name: "a")]) { gateway in
            let before = Self.peakRSSKiB()
            let client = try await gateway.client()
            try await client.send("POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: \(Self.size)\r\n\r\n")
            let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 64 * 1024)
            var sent: Int64 = 0
            while sent < Self.size {
                let count = Int(min(Int64(chunk.count), Self.size - sent))
                // Each write completes only when the socket took it: the test client itself obeys back-pressure.
                try await client.send(count == chunk.count ? chunk : Array(chunk.prefix(count)))
                sent += Int64(count)
            }
            let response = try await client.response(timeout: .seconds(600))
            await client.close()
            #expect(response.status == 200)
            #expect(response.bodyText == String(Self.size))
            let growth = Self.peakRSSKiB() - before
            #expect(growth < Self.allowedGrowthKiB, "peak RSS grew by \(growth) KiB")
        }
    }

    /// `VmHWM`: the process's peak resident set, in KiB.
    static func peakRSSKiB() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
        }
        return 0
    }
}
