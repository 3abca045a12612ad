#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a program to its end with `posix_spawn`, its output read through pipes: for the tests'
/// external tools (curl, h2load, nghttp, promtool, Python).
///
/// Not Foundation's `Process`: on Linux its `run()` walks the process's open descriptors, and in a
/// test process whose event loops open and close sockets meanwhile it crashed (a memcpy past the
/// list it had sized). `posix_spawn` walks nothing; the descriptors are closed in the child.
enum ChildProcess {
    struct Output: Sendable {
        /// The exit status, or 128 + the signal that ended it (as a shell reports it).
        var status: Int32
        var stdout: [UInt8]
        var stderr: [UInt8]
    }

    struct Failure: Error, CustomStringConvertible, Sendable {
        var description: String
    }

    /// Blocks the calling thread (call it from a Dispatch thread, not Swift concurrency's pool)
    /// until the program ends, or kills it after `timeoutSeconds`.
    static func run(
        _ path: String, _ arguments: [String], input: [UInt8] = [], timeoutSeconds: Double = 60
    ) throws -> Output {
        var stdinPipe: [Int32] = [-1, -1]
        var stdoutPipe: [Int32] = [-1, -1]
        var stderrPipe: [Int32] = [-1, -1]
        for index in 0..<3 {
            let made = index == 0 ? pipe(&stdinPipe) : index == 1 ? pipe(&stdoutPipe) : pipe(&stderrPipe)
            guard made == 0 else { throw Failure(description: "pipe: \(String(cString: strerror(errno)))") }
        }
        // Close-on-exec, so that no other child started meanwhile keeps an end open.
        for fd in stdinPipe + stdoutPipe + stderrPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // dup2 leaves the copies without close-on-exec: the child keeps exactly 0, 1 and 2.
        posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, stderrPipe[1], 2)
        // The child must not keep the test process's sockets (NIO's are inherited: a listener a
        // test closed would still accept in it): a python3 trampoline closes every descriptor
        // above 2 (close_range) and then execs the program.
        let trampoline = "import os, sys; os.closerange(3, os.sysconf('SC_OPEN_MAX')); os.execv(sys.argv[1], sys.argv[1:])"
        let launcher = "/usr/bin/python3"
        let argv = ([launcher, "-c", trampoline, path] + arguments).map { strdup($0) }
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        var arguments = argv + [nil]
        let spawned = arguments.withUnsafeMutableBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress else { return EINVAL }
            return posix_spawn(&pid, launcher, &actions, nil, base, environ)
        }
        close(stdinPipe[0])
        close(stdoutPipe[1])
        close(stderrPipe[1])
        guard spawned == 0 else {
            close(stdinPipe[1])
            close(stdoutPipe[0])
            close(stderrPipe[0])
            throw Failure(description: "cannot run \(path): \(String(cString: strerror(spawned)))")
        }
        if !input.isEmpty {
            _ = input.withUnsafeBytes { write(stdinPipe[1], $0.baseAddress, $0.count) }
        }
        close(stdinPipe[1])

        var output = Output(status: 0, stdout: [], stderr: [])
        var open: [(fd: Int32, isOut: Bool)] = [(stdoutPipe[0], true), (stderrPipe[0], false)]
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let end = Double(deadline.tv_sec) + Double(deadline.tv_nsec) / 1e9 + timeoutSeconds
        var killed = false
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while !open.isEmpty {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let left = end - (Double(now.tv_sec) + Double(now.tv_nsec) / 1e9)
            if left <= 0, !killed {
                kill(pid, SIGKILL)
                killed = true
            }
            var fds = open.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), killed ? 1_000 : Int32(min(max(left, 0.001), 1) * 1_000))
            if ready < 0, errno == EINTR { continue }
            guard ready > 0 else { continue }
            var closed: [Int32] = []
            for entry in fds where entry.revents != 0 {
                let count = chunk.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    let isOut = open.first { $0.fd == entry.fd }?.isOut ?? true
                    if isOut { output.stdout += chunk[0..<count] } else { output.stderr += chunk[0..<count] }
                } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                    closed.append(entry.fd)
                }
            }
            for fd in closed {
                close(fd)
                open.removeAll { $0.fd == fd }
            }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let signal = status & 0x7f
        output.status = signal == 0 ? (status >> 8) & 0xff : 128 + signal
        return output
    }
}
