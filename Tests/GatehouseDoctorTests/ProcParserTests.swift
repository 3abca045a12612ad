import GatehouseDoctor
import GatehouseErrors
import Testing

/// The /proc parsers on fixed samples, and the judgements made from their numbers.
@Suite("local resources from /proc")
struct ProcParserTests {
    @Test("loadavg")
    func loadAverage() throws {
        let load = try #require(ProcParsers.loadAverage("0.47 0.71 0.55 1/234 5678\n"))
        #expect(load == ProcParsers.LoadAverage(one: 0.47, five: 0.71, fifteen: 0.55))
        #expect(ProcParsers.loadAverage("") == nil)
        #expect(ResourceChecks.load(load, cores: 2).outcome == .ok)
        let busy = ResourceChecks.load(ProcParsers.LoadAverage(one: 9.5, five: 8, fifteen: 4), cores: 2)
        #expect(busy.outcome == .warning)
        #expect(busy.finding?.cause.contains("CPU saturated") == true)
    }

    @Test("meminfo: MemTotal and MemAvailable")
    func memory() throws {
        let sample = "MemTotal:       24684100 kB\nMemFree:        22501964 kB\nMemAvailable:   24149768 kB\nBuffers: 1 kB\n"
        let memory = try #require(ProcParsers.memory(sample))
        #expect(memory.totalKiB == 24_684_100)
        #expect(memory.availableKiB == 24_149_768)
        #expect(ResourceChecks.memory(memory).outcome == .ok)
        #expect(ResourceChecks.memory(ProcParsers.Memory(totalKiB: 1_000_000, availableKiB: 20_000)).outcome == .warning)
        #expect(ProcParsers.memory("MemTotal: 5 kB\n") == nil)
    }

    @Test("ip_local_port_range and file-nr")
    func rangeAndFiles() {
        #expect(ProcParsers.portRange("32768\t60999\n") == 32768...60999)
        #expect(ProcParsers.portRange("x") == nil)
        #expect(ProcParsers.fileHandles("504\t0\t2466190\n") == ProcParsers.FileHandles(allocated: 504, maximum: 2_466_190))
    }

    @Test("/proc/net/tcp and tcp6 lines: ports, remote addresses, states")
    func tcp() {
        let ipv4 = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 0100007F:93CB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 166703 1 0000000049111fde 100 0 0 10 0
               1: 0100007F:8A2F 0300000A:1F90 01 00000000:00000000 00:00000000 00000000     0        0 1 1 0 20 4 30 10 -1
               2: 0100007F:8A30 0300000A:1F90 06 00000000:00000000 03:00000F9A 00000000     0        0 0 3 0

            """
        let sockets = ProcParsers.tcpSockets(ipv4)
        #expect(sockets.count == 3)
        #expect(sockets[0].localPort == 0x93CB)
        #expect(sockets[0].state == ProcParsers.TCPSocket.listen)
        #expect(sockets[1].remoteAddress == "10.0.0.3")
        #expect(sockets[1].remotePort == 8080)
        #expect(sockets[2].state == ProcParsers.TCPSocket.timeWait)
        let ipv6 = """
              sl  local_address                         remote_address                        st tx_queue rx_queue
               0: 00000000000000000000000001000000:A000 00000000000000000000000001000000:0050 01 00000000:00000000
               1: 0000000000000000FFFF00000100007F:A001 0000000000000000FFFF00000100007F:0050 01 00000000:00000000

            """
        let six = ProcParsers.tcpSockets(ipv6)
        #expect(six.map(\.remoteAddress) == ["0:0:0:0:0:0:0:1", "127.0.0.1"])
    }

    @Test("ephemeral ports: the busiest destination decides exhaustion")
    func ports() {
        let range = 40000...40099
        var sockets = (0..<95).map {
            ProcParsers.TCPSocket(localPort: 40000 + $0, remoteAddress: "10.0.0.3", remotePort: 8080, state: 1)
        }
        sockets.append(ProcParsers.TCPSocket(localPort: 8080, remoteAddress: "0.0.0.0", remotePort: 0, state: 0x0A))
        let exhausted = ResourceChecks.ephemeralPorts(sockets, range: range)
        #expect(exhausted.outcome == .failed)
        #expect(exhausted.finding?.error == .proxyInternalError)
        #expect(exhausted.finding?.cause.contains("10.0.0.3:8080 (95 of 100)") == true)
        #expect(ResourceChecks.ephemeralPorts(Array(sockets.prefix(10)), range: range).outcome == .ok)
    }

    @Test("netstat TcpExt: ListenOverflows and ListenDrops")
    func backlog() {
        let sample = """
            TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops TCPTimeouts
            TcpExt: 0 0 12 12 3
            IpExt: InNoRoutes InTruncatedPkts
            IpExt: 0 0

            """
        let counters = ProcParsers.counters(sample, section: "TcpExt")
        #expect(counters["ListenOverflows"] == 12)
        #expect(counters["TCPTimeouts"] == 3)
        #expect(ProcParsers.counters(sample, section: "IpExt")["InNoRoutes"] == 0)
        #expect(ResourceChecks.backlog(counters).outcome == .warning)
        #expect(ResourceChecks.backlog(["ListenOverflows": 0, "ListenDrops": 0]).outcome == .ok)
        #expect(ResourceChecks.backlog([:]).outcome == .skipped)
    }

    @Test("descriptors: near the limit fails, a low limit warns")
    func descriptors() {
        #expect(ResourceChecks.fileDescriptors(open: 950, softLimit: 1024, system: nil).finding?.error == .proxyInternalError)
        let low = ResourceChecks.fileDescriptors(open: 10, softLimit: 1024, system: nil)
        #expect(low.outcome == .warning)
        #expect(low.finding?.cause.contains("about 512 proxied connections") == true)
        #expect(ResourceChecks.fileDescriptors(open: 10, softLimit: 65536, system: .init(allocated: 500, maximum: 100_000)).outcome == .ok)
        #expect(ResourceChecks.fileDescriptors(open: 10, softLimit: 65536, system: .init(allocated: 99_000, maximum: 100_000)).outcome == .failed)
    }

    @Test("disk: nearly full warns")
    func disk() {
        let gib = 1024 * 1024 * 1024
        #expect(ResourceChecks.disk([.init(path: "/", freeBytes: 50 * gib, totalBytes: 100 * gib)]).outcome == .ok)
        let full = ResourceChecks.disk([.init(path: "/", freeBytes: 50 * gib, totalBytes: 100 * gib), .init(path: "/var", freeBytes: gib / 4, totalBytes: 100 * gib)])
        #expect(full.outcome == .warning)
        #expect(full.finding?.cause.hasPrefix("/var is nearly full") == true)
    }
}
