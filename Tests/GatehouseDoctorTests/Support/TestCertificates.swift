import Foundation

/// Certificates made for the TLS tests with the `openssl` command (Debian's `openssl` package), in a
/// temporary directory removed by ``remove()``: a CA, a leaf it signed for 127.0.0.1/localhost, one for
/// another name, an expired one, one expiring in 5 days, and a self-signed one.
struct TestCertificates {
    let directory: String

    var caFile: String { self.path("ca.pem") }

    /// The certificate file and key file of a made leaf.
    func leaf(_ name: Leaf) -> (certificate: String, key: String) {
        (self.path("\(name.rawValue).pem"), self.path("\(name.rawValue).key"))
    }

    /// The leaf certificates made.
    enum Leaf: String, CaseIterable {
        case valid, wrongName = "wrong-name", expired, expiringSoon = "expiring-soon", selfSigned = "self-signed"
    }

    /// Why making certificates failed: the command and what it printed.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func make() throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("gatehouse-doctor-certs-\(UInt64.random(in: 0...UInt64.max))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let made = TestCertificates(directory: directory)
        do {
            try made.generate()
        } catch {
            made.remove()
            throw error
        }
        return made
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: self.directory)
    }

    private func path(_ name: String) -> String { self.directory + "/" + name }

    private func generate() throws {
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try self.openssl(
            ["req", "-x509"] + ec + [
                "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650", "-subj", "/CN=Gatehouse Doctor Test CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ])
        try self.write("valid.ext", "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        try self.write("wrong-name.ext", "subjectAltName=DNS:wrong.example\n")
        for (leaf, subject, days) in [("valid", "localhost", "365"), ("wrong-name", "wrong.example", "365"), ("expiring-soon", "localhost", "5")] {
            try self.openssl(["req"] + ec + ["-keyout", "\(leaf).key", "-out", "\(leaf).csr", "-subj", "/CN=\(subject)"])
            try self.openssl([
                "x509", "-req", "-in", "\(leaf).csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial",
                String(Int.random(in: 1000...999_999)), "-days", days, "-out", "\(leaf).pem", "-extfile",
                leaf == "wrong-name" ? "wrong-name.ext" : "valid.ext",
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

    private func write(_ name: String, _ text: String) throws {
        try text.write(toFile: self.path(name), atomically: true, encoding: .utf8)
    }

    private func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
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
