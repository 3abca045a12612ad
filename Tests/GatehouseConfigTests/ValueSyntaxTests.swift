import Testing

@testable import GatehouseConfig

/// The value syntaxes as tables: durations, sizes, `host:port`, address ranges, and the "did you mean" logic.
@Suite struct ValueSyntaxTests {
    @Test(arguments: [
        ("250ms", Duration.milliseconds(250)),
        ("2s", .seconds(2)),
        ("5m", .seconds(300)),
        ("1h", .seconds(3600)),
        ("1m30s", .seconds(90)),
        ("1h2m3s4ms", .milliseconds(3_723_004)),
        ("0s", .zero),
        ("1500ms", .milliseconds(1500)),
    ])
    func validDurations(text: String, expected: Duration) throws {
        #expect(try ValueSyntax.duration(text) == expected)
    }

    @Test(arguments: [
        (Duration.zero, "0s"),
        (.milliseconds(250), "250ms"),
        (.milliseconds(1500), "1500ms"),
        (.seconds(2), "2s"),
        (.seconds(90), "1m30s"),
        (.seconds(300), "5m"),
        (.seconds(3600), "1h"),
        (.milliseconds(3_723_004), "1h2m3s4ms"),
    ])
    func formattedDurationsParseBack(duration: Duration, text: String) throws {
        #expect(ValueSyntax.format(duration) == text)
        #expect(try ValueSyntax.duration(text) == duration)
    }

    @Test(arguments: [
        ("30", ValueSyntax.durationHint),
        ("0", ValueSyntax.durationHint),
        ("", "expected a number with a unit, like 250ms, 2s, 5m, 1h or 1m30s"),
        ("1.5s", "expected a number with a unit, like 250ms, 2s, 5m, 1h or 1m30s"),
        ("2 s", "expected a number with a unit, like 250ms, 2s, 5m, 1h or 1m30s"),
        ("2S", "expected a number with a unit, like 250ms, 2s, 5m, 1h or 1m30s"),
        ("10us", "expected a number with a unit, like 250ms, 2s, 5m, 1h or 1m30s"),
        ("s", "expected a number with a unit, like 250ms, 2s, 5m, 1h or 1m30s"),
        ("-1s", "expected a number with a unit, like 250ms, 2s, 5m, 1h or 1m30s"),
        ("1m30", "expected a number with a unit, like 250ms, 2s, 5m, 1h or 1m30s"),
        ("9223372036854775807h", "duration is too large"),
    ])
    func invalidDurations(text: String, reason: String) {
        #expect(throws: InvalidValue(reason)) { try ValueSyntax.duration(text) }
    }

    @Test(arguments: [
        ("0", Int64(0)),
        ("65536", 65536),
        ("32KiB", 32768),
        ("32KB", 32768),
        ("32k", 32768),
        ("32K", 32768),
        ("1MiB", 1_048_576),
        ("1MB", 1_048_576),
        ("1m", 1_048_576),
        ("1GiB", 1_073_741_824),
        ("2g", 2_147_483_648),
        ("100b", 100),
    ])
    func validSizes(text: String, expected: Int64) throws {
        #expect(try ValueSyntax.size(text) == expected)
    }

    @Test(arguments: [
        ("", "expected bytes or a number with a unit, like 65536, 32KiB, 1MiB or 1GiB"),
        ("KiB", "expected bytes or a number with a unit, like 65536, 32KiB, 1MiB or 1GiB"),
        ("1.5MiB", "expected bytes or a number with a unit, like 65536, 32KiB, 1MiB or 1GiB"),
        ("-1", "expected bytes or a number with a unit, like 65536, 32KiB, 1MiB or 1GiB"),
        ("32 KiB", "expected bytes or a number with a unit, like 65536, 32KiB, 1MiB or 1GiB"),
        ("1TiB", "expected bytes or a number with a unit, like 65536, 32KiB, 1MiB or 1GiB"),
        ("9007199254740992k", "size is too large"),
    ])
    func invalidSizes(text: String, reason: String) {
        #expect(throws: InvalidValue(reason)) { try ValueSyntax.size(text) }
    }

    @Test(arguments: [
        ("127.0.0.1:8080", "127.0.0.1", 8080),
        ("[::1]:8080", "::1", 8080),
        ("[2001:db8::1]:443", "2001:db8::1", 443),
        ("[::ffff:10.0.0.1]:80", "::ffff:10.0.0.1", 80),
        ("app-2.internal:3000", "app-2.internal", 3000),
        ("localhost:1", "localhost", 1),
        ("my_service:65535", "my_service", 65535),
        ("example.com.:80", "example.com.", 80),
    ])
    func validHostPorts(text: String, host: String, port: Int) throws {
        #expect(try ValueSyntax.hostPort(text, ports: 1...65535) == HostPort(host: host, port: port))
    }

    @Test func portZeroOnlyWhereAllowed() throws {
        #expect(try ValueSyntax.hostPort("0.0.0.0:0", ports: 0...65535) == HostPort(host: "0.0.0.0", port: 0))
        #expect(throws: InvalidValue("port must be between 1 and 65535, got 0")) {
            try ValueSyntax.hostPort("0.0.0.0:0", ports: 1...65535)
        }
    }

    @Test(arguments: [
        ("localhost", "missing port (expected host:port, e.g. 127.0.0.1:8080)"),
        ("localhost:", "missing port (expected host:port, e.g. 127.0.0.1:8080)"),
        ("[::1]", "missing port (expected host:port, e.g. 127.0.0.1:8080, [::1]:8080)"),
        ("[::1]8080", "missing port (expected host:port, e.g. 127.0.0.1:8080, [::1]:8080)"),
        ("[::1:8080", "missing ']' after the IPv6 address"),
        ("::1:8080", "IPv6 addresses need brackets: [::1]:8080"),
        ("[zzz]:80", "'zzz' is not an IPv6 address"),
        ("999.1.1.1:80", "'999.1.1.1' is not an IPv4 address"),
        ("-bad.example.com:80", "'-bad.example.com' is not a valid host name"),
        ("a..b:80", "'a..b' is not a valid host name"),
        ("host:http", "port 'http' is not a number"),
        ("host:70000", "port must be between 1 and 65535, got 70000"),
        ("host:99999999999999999999", "port must be between 1 and 65535, got 99999999999999999999"),
        (":8080", "missing host (use 0.0.0.0:8080 for every interface)"),
    ])
    func invalidHostPorts(text: String, reason: String) {
        #expect(throws: InvalidValue(reason)) { try ValueSyntax.hostPort(text, ports: 1...65535) }
    }

    @Test(
        arguments: [
            ("10.0.0.0/8", [10, 0, 0, 0], 8),
            ("10.1.2.3/8", [10, 0, 0, 0], 8),
            ("127.0.0.1", [127, 0, 0, 1], 32),
            ("0.0.0.0/0", [0, 0, 0, 0], 0),
            ("172.16.0.0/12", [172, 16, 0, 0], 12),
            ("::1", [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 128),
            ("fd00::/8", [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 8),
            ("2001:db8:ffff::/33", [0x20, 0x01, 0x0d, 0xb8, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 33),
        ] as [(String, [UInt8], Int)])
    func validAddressRanges(text: String, network: [UInt8], prefixLength: Int) throws {
        #expect(try ValueSyntax.addressRange(text) == AddressRange(network: network, prefixLength: prefixLength))
    }

    @Test(arguments: [
        ("10.0.0.0/33", "prefix length must be between 0 and 32, got '33'"),
        ("fd00::/129", "prefix length must be between 0 and 128, got '129'"),
        ("10.0.0.0/", "prefix length must be between 0 and 32, got ''"),
        ("10.0.0.0/x", "prefix length must be between 0 and 32, got 'x'"),
        ("10.0.0/8", "expected an IP address or a CIDR range, like 10.0.0.0/8, 127.0.0.1 or fd00::/8"),
        ("localhost", "expected an IP address or a CIDR range, like 10.0.0.0/8, 127.0.0.1 or fd00::/8"),
        ("", "expected an IP address or a CIDR range, like 10.0.0.0/8, 127.0.0.1 or fd00::/8"),
    ])
    func invalidAddressRanges(text: String, reason: String) {
        #expect(throws: InvalidValue(reason)) { try ValueSyntax.addressRange(text) }
    }

    @Test(arguments: [
        ("10.0.0.0/8", "10.255.1.2", true),
        ("10.0.0.0/8", "11.0.0.1", false),
        ("127.0.0.1", "127.0.0.1", true),
        ("127.0.0.1", "127.0.0.2", false),
        ("172.16.0.0/12", "172.31.255.255", true),
        ("172.16.0.0/12", "172.32.0.0", false),
        ("0.0.0.0/0", "203.0.113.9", true),
        ("::1", "::1", true),
        ("::1", "::2", false),
        ("fd00::/8", "fd12:3456::1", true),
        ("fd00::/8", "fe80::1", false),
        ("2001:db8::/33", "2001:db8:7fff::1", true),
        ("2001:db8::/33", "2001:db8:8000::1", false),
        ("10.0.0.0/8", "::ffff:10.1.2.3", true),
        ("10.0.0.0/8", "::ffff:11.1.2.3", false),
        ("10.0.0.0/8", "fd00::a01:203", false),
        ("::/0", "10.1.2.3", false),
    ])
    func addressRangeContains(range: String, address: String, expected: Bool) throws {
        let range = try ValueSyntax.addressRange(range)
        let bytes = try #require(ValueSyntax.ipv4(address) ?? ValueSyntax.ipv6(address))
        #expect(range.contains(bytes) == expected)
    }

    @Test(
        arguments: [
            ("adress", ["name", "address"], "address"),
            ("serverz", ["servers", "balance", "timeouts"], "servers"),
            ("timeout", ["servers", "balance", "timeouts"], "timeouts"),
            ("pathPrefix", ["host", "path_prefix"], "path_prefix"),
            ("PATH-PREFIX", ["host", "path_prefix"], "path_prefix"),
            ("max_idle", ["max_idle_per_server", "idle_timeout"], nil),
            ("colour", ["color", "colours"], "color"),
            ("frobnicate", ["listeners", "clusters", "routes"], nil),
        ] as [(String, [String], String?)])
    func didYouMean(word: String, candidates: [String], expected: String?) {
        #expect(Walker.suggestion(for: word, among: candidates) == expected)
    }

    @Test(arguments: [("kitten", "sitting", 3), ("", "abc", 3), ("abc", "", 3), ("same", "same", 0), ("ab", "ba", 2)])
    func editDistance(lhs: String, rhs: String, expected: Int) {
        #expect(Walker.editDistance(lhs, rhs) == expected)
    }
}
