import Foundation
import Synchronization

/// A small PKI made with the `openssl` command (Debian's `openssl` package) in a temporary directory,
/// for the tests and for `gatehouse lab` scenarios that need real broken certificates: a CA, leaves it
/// signed (valid for localhost/127.0.0.1, another name, expired, expiring in 5 days, two SNI names and
/// a wildcard), a self-signed leaf, and a leaf from a second CA nobody trusts. ``remove()`` deletes it.
public struct TestPKI: Sendable {
    public let directory: String

    /// The CA that signed every leaf except `selfSigned` and `unknownCA`.
    public var caFile: String { self.path("ca.pem") }

    /// The CA that signed `unknownCA`, to trust it on purpose.
    public var otherCAFile: String { self.path("other-ca.pem") }

    /// The certificate file and key file of a made leaf.
    public func leaf(_ name: Leaf) -> (certificate: String, key: String) {
        (self.path("\(name.rawValue).pem"), self.path("\(name.rawValue).key"))
    }

    /// The leaf certificates made, and the names they are for.
    public enum Leaf: String, CaseIterable, Sendable {
        /// localhost and 127.0.0.1, valid for a year.
        case valid
        /// wrong.example only.
        case wrongName = "wrong-name"
        /// localhost and 127.0.0.1, expired on 2020-02-01.
        case expired
        /// localhost and 127.0.0.1, for 5 more days.
        case expiringSoon = "expiring-soon"
        /// localhost and 127.0.0.1, signed by itself.
        case selfSigned = "self-signed"
        /// localhost and 127.0.0.1, signed by "Gatehouse Other CA", which nobody trusts.
        case unknownCA = "unknown-ca"
        /// a.test: one of two names a listener chooses between by SNI.
        case siteA = "site-a"
        /// b.test.
        case siteB = "site-b"
        /// *.wild.test.
        case wildcard
    }

    /// Why making certificates failed: the command and what it printed.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Makes the PKI in a new temporary directory (about a second of `openssl` runs). Throws, saying so,
    /// when `openssl` is missing.
    public static func make() throws -> TestPKI {
        guard FileManager.default.isExecutableFile(atPath: Self.openssl) else {
            throw Failure(description: "\(Self.openssl) not found: install the openssl package (apt-get install -y openssl)")
        }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("gatehouse-pki-\(UInt64.random(in: 0...UInt64.max))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let made = TestPKI(directory: directory)
        do {
            try made.generate()
        } catch {
            made.remove()
            throw error
        }
        return made
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: self.directory)
    }

    /// One PKI for the whole process, made on first use on a Dispatch thread and removed when the
    /// process exits. `make()` blocks its thread for about a second of `openssl` runs: called from
    /// many tests on Swift concurrency's cooperative threads (two on a 2-core machine) it stalled
    /// every other test for that long, and their timeouts fired. Do not `remove()` it.
    public static func shared() async throws -> TestPKI {
        try await Self.sharedPKI.value
    }

    private static let sharedPKI = Task<TestPKI, any Error> {
        let pki = try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try TestPKI.make() }) }
        }
        Self.sharedDirectory.withLock { $0 = pki.directory }
        atexit {
            if let directory = TestPKI.sharedDirectory.withLock({ $0 }) {
                try? FileManager.default.removeItem(atPath: directory)
            }
        }
        return pki
    }

    private static let sharedDirectory = Mutex<String?>(nil)

    private func path(_ name: String) -> String { self.directory + "/" + name }

    private func generate() throws {
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try self.openssl(
            ["req", "-x509"] + ec + [
                "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650", "-subj", "/CN=Gatehouse Doctor Test CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ])
        try self.openssl(
            ["req", "-x509"] + ec + [
                "-keyout", "other-ca.key", "-out", "other-ca.pem", "-days", "3650", "-subj", "/CN=Gatehouse Other CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ])
        let leaves: [(leaf: String, subject: String, names: String, days: String, ca: String)] = [
            ("valid", "localhost", "DNS:localhost,IP:127.0.0.1", "365", "ca"),
            ("wrong-name", "wrong.example", "DNS:wrong.example", "365", "ca"),
            ("expiring-soon", "localhost", "DNS:localhost,IP:127.0.0.1", "5", "ca"),
            ("unknown-ca", "localhost", "DNS:localhost,IP:127.0.0.1", "365", "other-ca"),
            ("site-a", "a.test", "DNS:a.test", "365", "ca"),
            ("site-b", "b.test", "DNS:b.test", "365", "ca"),
            ("wildcard", "*.wild.test", "DNS:*.wild.test", "365", "ca"),
        ]
        for made in leaves {
            try self.write("\(made.leaf).ext", "subjectAltName=\(made.names)\n")
            try self.openssl(["req"] + ec + ["-keyout", "\(made.leaf).key", "-out", "\(made.leaf).csr", "-subj", "/CN=\(made.subject)"])
            try self.openssl([
                "x509", "-req", "-in", "\(made.leaf).csr", "-CA", "\(made.ca).pem", "-CAkey", "\(made.ca).key", "-set_serial",
                String(Int.random(in: 1000...999_999)), "-days", made.days, "-out", "\(made.leaf).pem", "-extfile",
                "\(made.leaf).ext",
            ])
        }
        // OpenSSL 3.0's `x509` cannot set dates in the past; `openssl ca` can, with a throwaway database.
        try self.write(
            "ca.cnf",
            """
            [ca]
            default_ca = test
            [test]
            database = index.txt
            new_certs_dir = .
            serial = serial
            default_md = sha256
            policy = anything
            unique_subject = no
            [anything]
            commonName = supplied
            [leaf]
            subjectAltName = DNS:localhost,IP:127.0.0.1

            """)
        try self.write("index.txt", "")
        try self.write("serial", "1000\n")
        try self.openssl(["req"] + ec + ["-keyout", "expired.key", "-out", "expired.csr", "-subj", "/CN=localhost"])
        try self.openssl([
            "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-in", "expired.csr", "-out",
            "expired.pem", "-startdate", "20200101000000Z", "-enddate", "20200201000000Z", "-extensions", "leaf", "-notext",
        ])
        try self.openssl(
            ["req", "-x509"] + ec + [
                "-keyout", "self-signed.key", "-out", "self-signed.pem", "-days", "30", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ])
    }

    private static let openssl = "/usr/bin/openssl"

    private func write(_ name: String, _ text: String) throws {
        try text.write(toFile: self.path(name), atomically: true, encoding: .utf8)
    }

    private func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.openssl)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: self.directory)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let printed = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(
                description: "openssl \(arguments.joined(separator: " ")) failed (\(process.terminationStatus)): "
                    + String(decoding: printed, as: UTF8.self))
        }
    }
}
