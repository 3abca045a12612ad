#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads this machine's resources from /proc and the system, and turns them into steps with
/// ``ResourceChecks``. A file that cannot be read makes its step `skipped`, never a failure: doctor runs
/// on machines without /proc too.
public enum LocalResources {
    /// The names of the steps this produces, in order.
    public static let stepNames = ["load", "memory", "disk", "fds", "ports", "backlog"]

    /// The local-resources steps: load, memory, disk, fds, ports, backlog.
    public static func steps() -> [DoctorStep] {
        var steps: [DoctorStep] = []
        let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        if let text = Self.readFile("/proc/loadavg"), let load = ProcParsers.loadAverage(text) {
            steps.append(DoctorStep(name: "load", server: nil, ResourceChecks.load(load, cores: cores)))
        } else {
            steps.append(.skipped("load", server: nil, reason: "/proc/loadavg not readable"))
        }
        if let text = Self.readFile("/proc/meminfo"), let memory = ProcParsers.memory(text) {
            steps.append(DoctorStep(name: "memory", server: nil, ResourceChecks.memory(memory)))
        } else {
            steps.append(.skipped("memory", server: nil, reason: "/proc/meminfo not readable"))
        }
        var spaces: [ResourceChecks.DiskSpace] = []
        for path in ["/", Self.currentDirectory()].compactMap({ $0 }) where !spaces.contains(where: { $0.path == path }) {
            if let space = Self.diskSpace(path) { spaces.append(space) }
        }
        steps.append(
            spaces.isEmpty
                ? .skipped("disk", server: nil, reason: "statvfs failed") : DoctorStep(name: "disk", server: nil, ResourceChecks.disk(spaces)))
        let system = Self.readFile("/proc/sys/fs/file-nr").flatMap(ProcParsers.fileHandles)
        steps.append(
            DoctorStep(
                name: "fds", server: nil,
                ResourceChecks.fileDescriptors(open: Self.openDescriptors(), softLimit: Self.descriptorLimit(), system: system)))
        if let rangeText = Self.readFile("/proc/sys/net/ipv4/ip_local_port_range"), let range = ProcParsers.portRange(rangeText) {
            let sockets = ["/proc/net/tcp", "/proc/net/tcp6"].compactMap(Self.readFile).flatMap(ProcParsers.tcpSockets)
            steps.append(DoctorStep(name: "ports", server: nil, ResourceChecks.ephemeralPorts(sockets, range: range)))
        } else {
            steps.append(.skipped("ports", server: nil, reason: "ip_local_port_range not readable"))
        }
        let counters = Self.readFile("/proc/net/netstat").map { ProcParsers.counters($0, section: "TcpExt") } ?? [:]
        steps.append(DoctorStep(name: "backlog", server: nil, ResourceChecks.backlog(counters)))
        return steps
    }

    /// A small text file's contents (/proc files report size 0, so read until EOF), or nil.
    static func readFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        // /proc/net/tcp can be large on a busy host; 16 MiB is far beyond any real one and bounds memory.
        while bytes.count < 16 * 1024 * 1024 {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            bytes.append(contentsOf: buffer[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func currentDirectory() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buffer, buffer.count) != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func diskSpace(_ path: String) -> ResourceChecks.DiskSpace? {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else { return nil }
        let blockSize = Int(stats.f_frsize)
        return ResourceChecks.DiskSpace(
            path: path, freeBytes: Int(stats.f_bavail) * blockSize, totalBytes: Int(stats.f_blocks) * blockSize)
    }

    /// Descriptors open in this process (`/proc/self/fd`, less the one reading it).
    private static func openDescriptors() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { $0.first == UInt8(ascii: ".") }
            if !isDot { count += 1 }
        }
        return max(0, count - 1)
    }

    /// The soft RLIMIT_NOFILE: what a gateway started from this shell gets.
    private static func descriptorLimit() -> Int? {
        var limit = rlimit()
        #if canImport(Glibc)
        let result = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        #else
        let result = getrlimit(RLIMIT_NOFILE, &limit)
        #endif
        guard result == 0 else { return nil }
        // RLIM_INFINITY is all ones; Swift cannot import the macro (it is written as -1), so compare by value.
        return limit.rlim_cur >= UInt64(Int.max) ? Int.max : Int(limit.rlim_cur)
    }
}
