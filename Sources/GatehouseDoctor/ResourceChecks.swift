import GatehouseErrors

/// Judges this machine's resources: the seeds' `top`, `free -h`, `df -h` and `ss -s` made into findings.
/// Pure: ``LocalResources`` reads the numbers, these decide.
///
/// Exhausted descriptors or ports make the gateway itself fail (`proxy_internal_error`, nginx's
/// `socket() failed (24: Too many open files)` / `connect() failed (99: Cannot assign requested
/// address)`); the rest are warnings: they slow things down until timeouts fire.
public enum ResourceChecks {
    /// `load` step: the 1-minute run queue against the cores.
    public static func load(_ load: ProcParsers.LoadAverage, cores: Int) -> StepResult {
        let detail =
            "load \(Format.decimal(load.one, places: 2)) \(Format.decimal(load.five, places: 2)) \(Format.decimal(load.fifteen, places: 2)) on \(cores) core\(cores == 1 ? "" : "s")"
        guard cores > 0, load.one >= 2 * Double(cores) else { return StepResult(.ok, detail) }
        let cause =
            "CPU saturated: a run queue of \(Format.decimal(load.one, places: 1)) on \(cores) cores; requests wait for CPU, and slow responses end in timeouts (504)"
        return StepResult(
            .warning, detail + " — " + cause,
            finding: Finding(error: nil, cause: cause, fix: "Find the busy processes (top), add cores, or move work off this host."))
    }

    /// `memory` step: MemAvailable against MemTotal.
    public static func memory(_ memory: ProcParsers.Memory) -> StepResult {
        let available = memory.availableKiB * 1024
        let total = memory.totalKiB * 1024
        let detail =
            "\(Format.bytes(available)) available of \(Format.bytes(total)) (\(Format.percent(Double(available), of: Double(total))))"
        guard total > 0, Double(available) < Double(total) * 0.05 else { return StepResult(.ok, detail) }
        let cause =
            "memory nearly exhausted: \(Format.bytes(available)) available; the OOM killer ends workers mid-request (502 connection_terminated)"
        return StepResult(
            .warning, detail + " — " + cause,
            finding: Finding(error: nil, cause: cause, fix: "Find what uses the memory (top, dmesg for OOM kills); add memory or limit workers."))
    }

    /// One filesystem's space, for the `disk` step.
    public struct DiskSpace: Sendable, Hashable {
        public var path: String
        public var freeBytes: Int
        public var totalBytes: Int

        public init(path: String, freeBytes: Int, totalBytes: Int) {
            self.path = path
            self.freeBytes = freeBytes
            self.totalBytes = totalBytes
        }
    }

    /// `disk` step: free space of `/` and the working directory (logs, temporary files).
    public static func disk(_ spaces: [DiskSpace]) -> StepResult {
        let detail = spaces.map { "\($0.path) \(Format.bytes($0.freeBytes)) free (\(Format.percent(Double($0.freeBytes), of: Double($0.totalBytes))))" }
            .joined(separator: " · ")
        guard let full = spaces.first(where: { $0.totalBytes > 0 && (Double($0.freeBytes) < Double($0.totalBytes) * 0.05 || $0.freeBytes < 512 * 1024 * 1024) })
        else { return StepResult(.ok, detail) }
        let cause = "\(full.path) is nearly full (\(Format.bytes(full.freeBytes)) free): logs and temporary files cannot be written"
        return StepResult(
            .warning, detail + " — " + cause,
            finding: Finding(error: nil, cause: cause, fix: "Free space (rotate or delete old logs: du -sh /var/log/*) or grow the filesystem."))
    }

    /// `fds` step: this shell's descriptor limit (what a gateway started from it inherits) and the
    /// system-wide file handles.
    public static func fileDescriptors(open: Int, softLimit: Int?, system: ProcParsers.FileHandles?) -> StepResult {
        var parts: [String] = []
        if let softLimit { parts.append("\(open) open of a limit of \(softLimit) (ulimit -n)") }
        if let system { parts.append("system \(system.allocated) of \(system.maximum) file handles") }
        let detail = parts.isEmpty ? "not readable" : parts.joined(separator: " · ")
        if let system, system.maximum > 0, Double(system.allocated) >= Double(system.maximum) * 0.9 {
            let cause = "system file handles nearly exhausted (\(system.allocated) of \(system.maximum)): new connections fail with ENFILE"
            return StepResult(
                .failed, detail + " — " + cause,
                finding: Finding(error: .proxyInternalError, cause: cause, fix: "Raise fs.file-max (sysctl) or find the process leaking descriptors (ls /proc/*/fd | wc -l)."))
        }
        if let softLimit, softLimit > 0, Double(open) >= Double(softLimit) * 0.9 {
            let cause = "\(open) of \(softLimit) file descriptors in use: accept() and connect() fail with EMFILE (\"Too many open files\")"
            return StepResult(
                .failed, detail + " — " + cause,
                finding: Finding(error: .proxyInternalError, cause: cause, fix: "Raise the limit (ulimit -n, systemd LimitNOFILE=) or close leaked descriptors."))
        }
        if let softLimit, softLimit < 4096 {
            let cause =
                "descriptor limit \(softLimit): a gateway started from this shell can hold only about \(softLimit / 2) proxied connections (each uses two descriptors), then fails with \"Too many open files\""
            return StepResult(
                .warning, detail + " — " + cause,
                finding: Finding(error: nil, cause: cause, fix: "Raise it before starting the gateway: ulimit -n 65536, or LimitNOFILE=65536 in the systemd unit."))
        }
        return StepResult(.ok, detail)
    }

    /// `ports` step: local ports of the ephemeral range in use. A connect() needs a free local port per
    /// destination, so the busiest destination is what runs out first.
    public static func ephemeralPorts(_ sockets: [ProcParsers.TCPSocket], range: ClosedRange<Int>) -> StepResult {
        let inRange = sockets.filter { range.contains($0.localPort) && $0.state != ProcParsers.TCPSocket.listen }
        let timeWait = inRange.filter { $0.state == ProcParsers.TCPSocket.timeWait }.count
        var perDestination: [String: Int] = [:]
        for socket in inRange {
            let key = socket.remoteAddress.contains(":") ? "[\(socket.remoteAddress)]:\(socket.remotePort)" : "\(socket.remoteAddress):\(socket.remotePort)"
            perDestination[key, default: 0] += 1
        }
        let busiest = perDestination.max { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }
        let size = range.count
        var detail = "\(inRange.count) of \(size) ephemeral ports (\(range.lowerBound)-\(range.upperBound)) in use, \(timeWait) in TIME_WAIT"
        if let busiest, busiest.value > 1 { detail += "; busiest destination \(busiest.key): \(busiest.value)" }
        let fix =
            "Reuse upstream connections (keep-alive pool), widen net.ipv4.ip_local_port_range, or spread over more upstream addresses."
        if let busiest, Double(busiest.value) >= Double(size) * 0.9 {
            let cause =
                "ephemeral ports nearly exhausted towards \(busiest.key) (\(busiest.value) of \(size)): connect() fails with EADDRNOTAVAIL (99: Cannot assign requested address)"
            return StepResult(.failed, detail + " — " + cause, finding: Finding(error: .proxyInternalError, cause: cause, fix: fix))
        }
        if Double(inRange.count) >= Double(size) * 0.5 {
            let cause = "half of the ephemeral port range is in use (\(inRange.count) of \(size), \(timeWait) in TIME_WAIT): new connections may soon fail"
            return StepResult(.warning, detail + " — " + cause, finding: Finding(error: nil, cause: cause, fix: fix))
        }
        return StepResult(.ok, detail)
    }

    /// `backlog` step: TcpExt ListenOverflows / ListenDrops, counted since boot.
    public static func backlog(_ counters: [String: Int]) -> StepResult {
        guard let overflows = counters["ListenOverflows"] else { return StepResult(.skipped, "not run: TcpExt counters not readable") }
        let drops = counters["ListenDrops"] ?? 0
        let detail = "\(overflows) listen queue overflows, \(drops) drops since boot"
        guard overflows > 0 || drops > 0 else { return StepResult(.ok, detail) }
        let cause =
            "a listening socket's accept queue overflowed \(max(overflows, drops)) times since boot: SYNs were dropped, and clients (or this gateway) saw connect timeouts"
        return StepResult(
            .warning, detail + " — " + cause,
            finding: Finding(
                error: nil, cause: cause,
                fix: "Check which server accepts too slowly (ss -ltn: Recv-Q near Send-Q); raise its backlog and net.core.somaxconn."))
    }
}
