import Foundation
import GatehouseConfig
import GatehouseCore
import GatehouseErrors
import GatehouseIncidents
import Testing

/// The SQLite store on a temporary file: what is written comes back after a reopen, within retention.
@Suite("incident store", .timeLimit(.minutes(1)))
struct IncidentStoreTests {
    /// A fresh directory for one test's database, removed by the test.
    static func directory() throws -> String {
        let path = NSTemporaryDirectory() + "gatehouse-store-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func incident(open: Bool) -> Incident {
        Incident(
            id: "inc-1700000000000-app", cluster: "app", startMillis: IncidentMonitor.wallMillis() - 60_000,
            endMillis: open ? nil : IncidentMonitor.wallMillis(), updatedMillis: IncidentMonitor.wallMillis() - 1000,
            requests: 120, errors: 80, errorsByType: [.connectionRefused: 70, .connectionTimeout: 10],
            errorsByServer: ["10.0.0.1:80": 70, "10.0.0.2:80": 10], sampleRequestIDs: ["a", "b"], peakRatio: 0.75,
            spike: Incident.Spike(
                factor: 8, baselinePerSecond: 2, peakPerSecond: 16,
                topClients: [ClientCount(address: "203.0.113.7", requests: 900)]))
    }

    @Test("errors and incidents written before a close are read back after a reopen; the file is in WAL mode")
    func reopen() async throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let storage = Storage(path: directory + "/gatehouse.db")
        let store = try await IncidentStore.open(storage)
        let now = IncidentMonitor.wallMillis()
        for number in 1...3 {
            store.errorRecorded(
                GatewayErrorEntry(
                    timeMillis: now + Int64(number), requestID: "req-\(number)", method: "GET", route: "all", cluster: "app",
                    server: "10.0.0.1:80", type: .connectionRefused, details: "refused", status: 502,
                    connectMilliseconds: 1.25, headerMilliseconds: nil, totalMilliseconds: 2.5, attempts: 2))
        }
        let opened = Self.incident(open: true)
        var resolved = opened
        resolved.endMillis = now
        store.incidentChanged(opened, change: .opened)
        store.incidentChanged(resolved, change: .resolved)
        await store.close()
        #expect(FileManager.default.fileExists(atPath: storage.path))

        let again = try await IncidentStore.open(storage)
        #expect(FileManager.default.fileExists(atPath: storage.path + "-wal"), "WAL mode keeps a -wal file while open")
        let loaded = try await again.load(errors: 10, incidents: 10)
        await again.close()
        #expect(loaded.errors.map(\.requestID) == ["req-1", "req-2", "req-3"], "oldest first, as the ring takes them")
        #expect(loaded.errors.first?.connectMilliseconds == 1.25)
        #expect(loaded.errors.first?.headerMilliseconds == nil)
        #expect(loaded.errors.first?.attempts == 2)
        #expect(loaded.errors.first?.details == "refused")
        #expect(loaded.incidents == [resolved], "one row per incident, the last state")
    }

    @Test("retention: errors older than it and beyond max_errors are deleted, old closed incidents too")
    func retention() async throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let storage = Storage(path: directory + "/gatehouse.db", retention: .seconds(86_400), maxErrors: 3)
        let store = try await IncidentStore.open(storage)
        let now = IncidentMonitor.wallMillis()
        func entry(_ id: String, at time: Int64) -> GatewayErrorEntry {
            GatewayErrorEntry(
                timeMillis: time, requestID: id, method: "GET", route: nil, cluster: "app", server: nil,
                type: .destinationUnavailable, details: nil, status: 503)
        }
        store.errorRecorded(entry("two-days-old", at: now - 2 * 86_400_000))
        for number in 1...5 { store.errorRecorded(entry("new-\(number)", at: now + Int64(number))) }
        var old = Self.incident(open: false)
        old.id = "inc-old"
        old.startMillis = now - 3 * 86_400_000
        old.endMillis = now - 2 * 86_400_000
        store.incidentChanged(old, change: .resolved)
        var stillOpen = Self.incident(open: true)
        stillOpen.startMillis = now - 3 * 86_400_000
        store.incidentChanged(stillOpen, change: .opened)
        await store.close()

        // Retention runs at open.
        let again = try await IncidentStore.open(storage)
        let loaded = try await again.load(errors: 100, incidents: 100)
        await again.close()
        #expect(loaded.errors.map(\.requestID) == ["new-3", "new-4", "new-5"])
        #expect(loaded.incidents.map(\.id) == [stillOpen.id], "an open incident is kept whatever its age")
    }

    @Test("an incident open when the gateway stopped comes back closed at its last update, marked interrupted")
    func interrupted() {
        let monitor = IncidentMonitor(stats: GatewayStats()) {
            GatehouseConfiguration(listeners: [], clusters: [], routes: [])
        }
        let open = Self.incident(open: true)
        let restored = monitor.restore([open])
        #expect(restored.count == 1)
        #expect(restored.first?.endMillis == open.updatedMillis)
        #expect(restored.first?.interrupted == true)
        #expect(monitor.incidents().map(\.id) == [open.id])
        #expect(IncidentJSON.incident(restored[0]).contains("\"interrupted\":true"))
    }
}
