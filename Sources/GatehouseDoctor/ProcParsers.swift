/// Parsers for the /proc files the local-resources steps read. Each takes the file's text, so every one
/// is tested on fixed samples; ``LocalResources`` does the reading.
public enum ProcParsers {
    /// `/proc/loadavg`: the run-queue averages over 1, 5 and 15 minutes.
    public struct LoadAverage: Sendable, Hashable {
        public var one: Double
        public var five: Double
        public var fifteen: Double

        public init(one: Double, five: Double, fifteen: Double) {
            self.one = one
            self.five = five
            self.fifteen = fifteen
        }
    }

    /// `0.47 0.71 0.55 1/234 5678`.
    public static func loadAverage(_ text: String) -> LoadAverage? {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count >= 3, let one = Double(fields[0]), let five = Double(fields[1]), let fifteen = Double(fields[2])
        else { return nil }
        return LoadAverage(one: one, five: five, fifteen: fifteen)
    }

    /// From `/proc/meminfo`, in KiB.
    public struct Memory: Sendable, Hashable {
        public var totalKiB: Int
        public var availableKiB: Int

        public init(totalKiB: Int, availableKiB: Int) {
            self.totalKiB = totalKiB
            self.availableKiB = availableKiB
        }
    }

    /// `MemTotal:  24684100 kB` … `MemAvailable:  24149768 kB`.
    public static func memory(_ text: String) -> Memory? {
        var values: [Substring: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == ":" })
            if parts.count >= 2, let value = Int(parts[1]) { values[parts[0]] = value }
        }
        guard let total = values["MemTotal"], let available = values["MemAvailable"] else { return nil }
        return Memory(totalKiB: total, availableKiB: available)
    }

    /// `/proc/sys/net/ipv4/ip_local_port_range`: `32768\t60999`.
    public static func portRange(_ text: String) -> ClosedRange<Int>? {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
        guard fields.count == 2, let low = Int(fields[0]), let high = Int(fields[1]), low <= high else { return nil }
        return low...high
    }

    /// `/proc/sys/fs/file-nr`: file handles allocated system-wide, and the maximum.
    public struct FileHandles: Sendable, Hashable {
        public var allocated: Int
        public var maximum: Int

        public init(allocated: Int, maximum: Int) {
            self.allocated = allocated
            self.maximum = maximum
        }
    }

    /// `504\t0\t2466190`.
    public static func fileHandles(_ text: String) -> FileHandles? {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
        guard fields.count == 3, let allocated = Int(fields[0]), let maximum = Int(fields[2]) else { return nil }
        return FileHandles(allocated: allocated, maximum: maximum)
    }

    /// One line of `/proc/net/tcp` or `/proc/net/tcp6`.
    public struct TCPSocket: Sendable, Hashable {
        public var localPort: Int
        /// The remote address, printable (`10.0.0.3`, `::1`).
        public var remoteAddress: String
        public var remotePort: Int
        /// The kernel's state number: 0x01 ESTABLISHED, 0x06 TIME_WAIT, 0x0A LISTEN…
        public var state: Int

        public init(localPort: Int, remoteAddress: String, remotePort: Int, state: Int) {
            self.localPort = localPort
            self.remoteAddress = remoteAddress
            self.remotePort = remotePort
            self.state = state
        }

        public static let established = 0x01
        public static let timeWait = 0x06
        public static let listen = 0x0A
    }

    /// `   0: 0100007F:93CB 00000000:0000 0A 00000000:00000000 …` — addresses in the kernel's hex, each
    /// 32-bit word in host (little-endian) order.
    public static func tcpSockets(_ text: String) -> [TCPSocket] {
        var sockets: [TCPSocket] = []
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count >= 4 else { continue }
            let local = fields[1].split(separator: ":")
            let remote = fields[2].split(separator: ":")
            guard local.count == 2, remote.count == 2, let localPort = Int(local[1], radix: 16),
                let remotePort = Int(remote[1], radix: 16), let state = Int(fields[3], radix: 16),
                let address = Self.address(hex: remote[0])
            else { continue }
            sockets.append(TCPSocket(localPort: localPort, remoteAddress: address, remotePort: remotePort, state: state))
        }
        return sockets
    }

    /// `0100007F` → `127.0.0.1`; 32 hex digits → an IPv6 address (IPv4-mapped shown as IPv4).
    static func address(hex: Substring) -> String? {
        guard hex.count == 8 || hex.count == 32 else { return nil }
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let wordEnd = hex.index(index, offsetBy: 8)
            guard let word = UInt32(hex[index..<wordEnd], radix: 16) else { return nil }
            // The kernel prints each 32-bit word as a number in host order: little-endian on every
            // machine Gatehouse runs on, so the first byte in memory is the lowest.
            bytes += [UInt8(word & 0xff), UInt8(word >> 8 & 0xff), UInt8(word >> 16 & 0xff), UInt8(word >> 24)]
            index = wordEnd
        }
        if bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {
            bytes = Array(bytes[12...])
        }
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        let groups = stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
        return groups.joined(separator: ":")
    }

    /// `/proc/net/netstat` (or `/proc/net/snmp`): pairs of lines, names then values, for each section
    /// (`TcpExt:`, `IpExt:`…). Returns the named section's counters.
    public static func counters(_ text: String, section: String) -> [String: Int] {
        let lines = text.split(separator: "\n")
        var result: [String: Int] = [:]
        var index = 0
        while index + 1 < lines.count {
            let names = lines[index].split(separator: " ")
            let values = lines[index + 1].split(separator: " ")
            if names.first == Substring(section + ":"), values.first == names.first {
                for (name, value) in zip(names.dropFirst(), values.dropFirst()) {
                    if let number = Int(value) { result[String(name)] = number }
                }
                return result
            }
            index += 1
        }
        return result
    }
}
