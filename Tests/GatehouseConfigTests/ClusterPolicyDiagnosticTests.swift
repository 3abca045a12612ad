import GatehouseConfig
import Testing

/// Every error of the balancing, health, ejection and admin keys, with its exact `file:line:col: message`.
/// Appendices to `clusterConfig` start at line 10; four spaces of indent put a key in cluster `app`.
@Suite struct ClusterPolicyDiagnosticTests {
    static let allowedPolicies = "round_robin, weighted_round_robin, least_request, random, consistent_hash"
    static let durationSyntax = "expected a number with a unit, like 250ms, 2s, 5m, 1h or 1m30s"
    static let durationUnit = "durations need a unit: 2s, 250ms, 5m, 1h"

    @Test(arguments: [
        (
            "\n    balance: leastrequest",
            ["g.yaml:10:14: unknown balance 'leastrequest'; did you mean 'least_request'? (allowed: \(allowedPolicies))"]
        ),
        (
            "\n    balance: RANDOM",
            ["g.yaml:10:14: unknown balance 'RANDOM'; did you mean 'random'? (allowed: \(allowedPolicies))"]
        ),
        ("\n    balance: fastest", ["g.yaml:10:14: unknown balance 'fastest' (allowed: \(allowedPolicies))"]),
        ("\n    balance: [random]", ["g.yaml:10:14: expected a string for 'balance', got a sequence"]),
        (
            "\n    balance: consistent_hash",
            [
                "g.yaml:10:14: balance: consistent_hash needs hash_on (header: NAME, cookie: NAME or client_address)"
            ]
        ),
        (
            "\n    hash_on: client_address",
            ["g.yaml:10:14: hash_on only applies to balance: consistent_hash (balance is round_robin)"]
        ),
        (
            "\n    balance: least_request\n    hash_on: { header: x-user }",
            ["g.yaml:11:14: hash_on only applies to balance: consistent_hash (balance is least_request)"]
        ),
        (
            "\n    hash_on:\n      cookie: sid\n    balance: random",
            ["g.yaml:11:7: hash_on only applies to balance: consistent_hash (balance is random)"]
        ),
        (
            "\n    hash_on: client_ip",
            ["g.yaml:10:14: expected client_address, {header: NAME} or {cookie: NAME} for hash_on, got 'client_ip'"]
        ),
        (
            "\n    balance: consistent_hash\n    hash_on: { header: x-user, cookie: sid }",
            ["g.yaml:11:40: hash_on takes one of header or cookie, not both"]
        ),
        (
            "\n    balance: consistent_hash\n    hash_on: { cookie: sid, header: x-user }",
            ["g.yaml:11:37: hash_on takes one of header or cookie, not both"]
        ),
        ("\n    hashon: client_address", ["g.yaml:10:5: unknown key 'hashon'; did you mean 'hash_on'?"]),
    ])
    func balanceAndHashOn(appendix: String, expected: [String]) {
        #expect(diagnostics(clusterConfig + appendix) == expected)
    }

    /// One mistake, one message: a key given with a wrong value is not also reported as missing, or
    /// judged by the default it did not get.
    @Test(arguments: [
        (
            "\n    balance: consistent_hash\n    hash_on: {}",
            ["g.yaml:11:14: hash_on needs one of header or cookie"]
        ),
        (
            "\n    balance: consistent_hash\n    hash_on: client_ip",
            ["g.yaml:11:14: expected client_address, {header: NAME} or {cookie: NAME} for hash_on, got 'client_ip'"]
        ),
        (
            "\n    balance: consistent_hash\n    hash_on: [client_address]",
            ["g.yaml:11:14: expected client_address, {header: NAME} or {cookie: NAME} for hash_on, got a sequence"]
        ),
        (
            "\n    balance: consistent_hash\n    hash_on:",
            ["g.yaml:11:13: expected client_address, {header: NAME} or {cookie: NAME} for hash_on, got an empty value"]
        ),
        (
            "\n    balance: consistent_hash\n    hash_on: { header: \"\" }",
            ["g.yaml:11:24: 'header' must not be empty"]
        ),
        (
            "\n    balance: consistent_hash\n    hash_on: { header: [a, b] }",
            ["g.yaml:11:24: expected a string for 'header', got a sequence"]
        ),
        (
            "\n    balance: consistent_hash\n    hash_on: { heder: x-user }",
            ["g.yaml:11:16: unknown key 'heder'; did you mean 'header'?"]
        ),
        (
            "\n    balance: consistent-hash\n    hash_on: { cookie: sid }",
            [
                "g.yaml:10:14: unknown balance 'consistent-hash'; did you mean 'consistent_hash'? (allowed: \(allowedPolicies))"
            ]
        ),
        (
            "\nadmin:\n  address: 0.0.0.0:9901\n  token_file: \"\"",
            ["g.yaml:12:15: 'token_file' must not be empty"]
        ),
        (
            "\n    panic_threshold:",
            ["g.yaml:10:21: expected a percentage for 'panic_threshold', got an empty value"]
        ),
    ])
    func oneMistakeOneMessage(appendix: String, expected: [String]) {
        #expect(diagnostics(clusterConfig + appendix) == expected)
    }

    /// Values that used to pass unchecked: a probe Host that is not a host, keys a tcp check would
    /// ignore, hash_on names that no header or cookie can have.
    @Test(arguments: [
        (
            "\n    health_check:\n      host: http://api.example.com",
            [
                "g.yaml:11:13: expected a host such as api.example.com or api.example.com:8080 for 'host', got 'http://api.example.com'"
            ]
        ),
        (
            "\n    health_check:\n      host: \"api.example.com \"",
            [
                "g.yaml:11:13: expected a host such as api.example.com or api.example.com:8080 for 'host', got 'api.example.com '"
            ]
        ),
        (
            "\n    health_check:\n      host: api.example.com:0",
            [
                "g.yaml:11:13: expected a host such as api.example.com or api.example.com:8080 for 'host', got 'api.example.com:0'"
            ]
        ),
        (
            "\n    health_check:\n      type: tcp\n      host: api.example.com",
            ["g.yaml:12:13: a tcp health check sends no Host header (use type: http)"]
        ),
        (
            "\n    health_check:\n      expected_statuses: [2xx]\n      type: tcp",
            ["g.yaml:11:26: a tcp health check has no status to expect (use type: http)"]
        ),
        (
            "\n    health_check:\n      type: tcp\n      host: http://x",
            [
                "g.yaml:12:13: expected a host such as api.example.com or api.example.com:8080 for 'host', got 'http://x'"
            ]
        ),
        (
            "\n    balance: consistent_hash\n    hash_on: { header: \"X User\" }",
            ["g.yaml:11:24: 'header' must be a header name (letters, digits and !#$%&'*+-.^_`|~), got 'X User'"]
        ),
        (
            "\n    balance: consistent_hash\n    hash_on: { header: \"x-user:\" }",
            ["g.yaml:11:24: 'header' must be a header name (letters, digits and !#$%&'*+-.^_`|~), got 'x-user:'"]
        ),
        (
            "\n    balance: consistent_hash\n    hash_on: { cookie: \"sid=1\" }",
            ["g.yaml:11:24: 'cookie' must be a cookie name (letters, digits and !#$%&'*+-.^_`|~), got 'sid=1'"]
        ),
    ])
    func valuesThatCannotWork(appendix: String, expected: [String]) {
        #expect(diagnostics(clusterConfig + appendix) == expected)
    }

    /// One key of `health_check:` (line 11, indented by six spaces) and its error.
    @Test(arguments: [
        ("type: grpc", ["g.yaml:11:13: unknown health check type 'grpc' (allowed: http, tcp)"]),
        ("type: HTTP", ["g.yaml:11:13: unknown health check type 'HTTP' (allowed: http, tcp)"]),
        ("path: healthz", ["g.yaml:11:13: health check path must start with '/' and contain no spaces, got 'healthz'"]),
        ("path: \"/a b\"", ["g.yaml:11:13: health check path must start with '/' and contain no spaces, got '/a b'"]),
        ("path: \"/a\\r\\nX: y\"", ["g.yaml:11:13: health check path must start with '/' and contain no spaces, got '/a\r\nX: y'"]),
        ("path: \"\"", ["g.yaml:11:13: 'path' must not be empty"]),
        ("interval: 0s", ["g.yaml:11:17: 'interval' must be greater than 0"]),
        ("interval: 5", ["g.yaml:11:17: invalid duration '5' for 'interval': \(durationUnit)"]),
        ("jitter: -1s", ["g.yaml:11:15: invalid duration '-1s' for 'jitter': \(durationSyntax)"]),
        ("jitter: 10", ["g.yaml:11:15: invalid duration '10' for 'jitter': \(durationUnit)"]),
        ("timeout: 0ms", ["g.yaml:11:16: 'timeout' must be greater than 0"]),
        ("healthy_threshold: 0", ["g.yaml:11:26: 'healthy_threshold' must be between 1 and 100, got 0"]),
        ("healthy_threshold: two", ["g.yaml:11:26: expected an integer for 'healthy_threshold', got 'two'"]),
        ("unhealthy_threshold: 101", ["g.yaml:11:28: 'unhealthy_threshold' must be between 1 and 100, got 101"]),
        ("expected_statuses: []", ["g.yaml:11:26: 'expected_statuses' needs at least one entry"]),
        ("expected_statuses: 200", ["g.yaml:11:26: expected a sequence for 'expected_statuses', got '200'"]),
        ("expected_body: \"\"", ["g.yaml:11:22: 'expected_body' must not be empty"]),
        ("host: \"\"", ["g.yaml:11:13: 'host' must not be empty"]),
        ("intervl: 5s", ["g.yaml:11:7: unknown key 'intervl'; did you mean 'interval'?"]),
        ("expected_status: [200]", ["g.yaml:11:7: unknown key 'expected_status'; did you mean 'expected_statuses'?"]),
    ])
    func healthCheckKeys(line: String, expected: [String]) {
        #expect(diagnostics(clusterConfig + "\n    health_check:\n      " + line) == expected)
    }

    @Test func everyInvalidExpectedStatusIsReported() {
        let yaml = clusterConfig + "\n    health_check:\n      expected_statuses: [600, 99, 6xx, 0xx, 2XX, 299-200, 200-, abc, 204]"
        let expected = "expected 200, 200-299 or 2xx (100–599)"
        #expect(
            diagnostics(yaml) == [
                "g.yaml:11:27: invalid status '600' for expected_statuses[0]: \(expected)",
                "g.yaml:11:32: invalid status '99' for expected_statuses[1]: \(expected)",
                "g.yaml:11:36: invalid status '6xx' for expected_statuses[2]: \(expected)",
                "g.yaml:11:41: invalid status '0xx' for expected_statuses[3]: \(expected)",
                "g.yaml:11:46: invalid status '2XX' for expected_statuses[4]: \(expected)",
                "g.yaml:11:51: invalid status '299-200' for expected_statuses[5]: \(expected)",
                "g.yaml:11:60: invalid status '200-' for expected_statuses[6]: \(expected)",
                "g.yaml:11:66: invalid status 'abc' for expected_statuses[7]: \(expected)",
            ])
    }

    @Test(arguments: [
        ("\n    health_check: true", ["g.yaml:10:19: expected a mapping for 'health_check', got 'true'"]),
        ("\n    health_check:", ["g.yaml:10:18: expected a mapping for 'health_check', got an empty value"]),
        ("\n    health_check: [http]", ["g.yaml:10:19: expected a mapping for 'health_check', got a sequence"]),
        (
            "\n    health_check:\n      type: tcp\n      path: /healthz",
            ["g.yaml:12:13: a tcp health check has no path (use type: http)"]
        ),
        (
            "\n    health_check:\n      path: /healthz\n      type: tcp",
            ["g.yaml:11:13: a tcp health check has no path (use type: http)"]
        ),
    ])
    func healthCheckShapes(appendix: String, expected: [String]) {
        #expect(diagnostics(clusterConfig + appendix) == expected)
    }

    /// The checks between keys point at the key that breaks them (the other one's default named), and
    /// stay silent when a key involved already has its own error.
    @Test(arguments: [
        (
            "\n    health_check:\n      path: /healthz\n      interval: 2s\n      jitter: 2s",
            ["g.yaml:13:15: health check jitter (2s) must be shorter than its interval (2s)"]
        ),
        (
            "\n    health_check:\n      path: /healthz\n      jitter: 1m",
            ["g.yaml:12:15: health check jitter (1m) must be shorter than its interval (5s, the default)"]
        ),
        (
            "\n    health_check:\n      path: /healthz\n      interval: 1s\n      timeout: 1500ms",
            [
                "g.yaml:13:16: health check timeout (1500ms) must not be longer than its interval (1s): shorten the timeout or lengthen the interval"
            ]
        ),
        (
            "\n    health_check: { interval: 1s, timeout: 3s }",
            [
                "g.yaml:10:44: health check timeout (3s) must not be longer than its interval (1s): shorten the timeout or lengthen the interval"
            ]
        ),
        (
            "\n    health_check:\n      path: /healthz\n      interval: 1s",
            [
                "g.yaml:12:17: health check timeout (2s, the default) must not be longer than its interval (1s): shorten the timeout or lengthen the interval"
            ]
        ),
        (
            "\n    health_check:\n      path: /healthz\n      timeout: 1m30s",
            [
                "g.yaml:12:16: health check timeout (1m30s) must not be longer than its interval (5s, the default): shorten the timeout or lengthen the interval"
            ]
        ),
        (
            "\n    health_check:\n      interval: 1\n      timeout: 6s\n      jitter: 10s",
            ["g.yaml:11:17: invalid duration '1' for 'interval': \(durationUnit)"]
        ),
        (
            "\n    health_check:\n      interval: 2s\n      timeout: 0s",
            ["g.yaml:12:16: 'timeout' must be greater than 0"]
        ),
        (
            "\n    health_check:\n      type: tcp\n      expected_body: ok",
            ["g.yaml:12:22: a tcp health check cannot expect a body (use type: http)"]
        ),
        (
            "\n    outlier_detection:\n      consecutive_failures: 3\n      base_ejection_time: 1m\n      max_ejection_time: 30s",
            ["g.yaml:13:26: max_ejection_time (30s) must not be shorter than base_ejection_time (1m)"]
        ),
        (
            "\n    outlier_detection:\n      consecutive_failures: 3\n      base_ejection_time: 10m",
            ["g.yaml:12:27: max_ejection_time (5m, the default) must not be shorter than base_ejection_time (10m)"]
        ),
        (
            "\n    outlier_detection:\n      max_ejection_time: 10s",
            ["g.yaml:11:26: max_ejection_time (10s) must not be shorter than base_ejection_time (30s, the default)"]
        ),
        (
            "\n    outlier_detection:\n      base_ejection_time: 10\n      max_ejection_time: 10s",
            ["g.yaml:11:27: invalid duration '10' for 'base_ejection_time': \(durationUnit)"]
        ),
    ])
    func crossChecksPointAtTheKeyThatBreaksThem(appendix: String, expected: [String]) {
        #expect(diagnostics(clusterConfig + appendix) == expected)
    }

    /// One key of `outlier_detection:` (line 11, indented by six spaces) and its error.
    @Test(arguments: [
        ("consecutive_failures: 0", ["g.yaml:11:29: 'consecutive_failures' must be between 1 and 1000, got 0"]),
        ("consecutive_failures: 1001", ["g.yaml:11:29: 'consecutive_failures' must be between 1 and 1000, got 1001"]),
        ("count_5xx: yes", ["g.yaml:11:18: expected true or false for 'count_5xx', got 'yes'"]),
        ("count_5xx: 1", ["g.yaml:11:18: expected true or false for 'count_5xx', got '1'"]),
        ("base_ejection_time: 30", ["g.yaml:11:27: invalid duration '30' for 'base_ejection_time': \(durationUnit)"]),
        ("base_ejection_time: 0s", ["g.yaml:11:27: 'base_ejection_time' must be greater than 0"]),
        ("max_ejection_time: 0s", ["g.yaml:11:26: 'max_ejection_time' must be greater than 0"]),
        ("max_ejection_time: 1d", ["g.yaml:11:26: invalid duration '1d' for 'max_ejection_time': \(durationSyntax)"]),
        (
            "max_ejection_percent: 101",
            ["g.yaml:11:29: 'max_ejection_percent' must be a percentage from 0 to 100 (50 or 50%), got '101'"]
        ),
        (
            "max_ejection_percent: 150%",
            ["g.yaml:11:29: 'max_ejection_percent' must be a percentage from 0 to 100 (50 or 50%), got '150%'"]
        ),
        (
            "max_ejection_percent: -1%",
            ["g.yaml:11:29: 'max_ejection_percent' must be a percentage from 0 to 100 (50 or 50%), got '-1%'"]
        ),
        (
            "max_ejection_percent: 12.5",
            ["g.yaml:11:29: 'max_ejection_percent' must be a percentage from 0 to 100 (50 or 50%), got '12.5'"]
        ),
        (
            "max_ejection_percent: \"50 %\"",
            ["g.yaml:11:29: 'max_ejection_percent' must be a percentage from 0 to 100 (50 or 50%), got '50 %'"]
        ),
        (
            "max_ejection_percent: half",
            ["g.yaml:11:29: 'max_ejection_percent' must be a percentage from 0 to 100 (50 or 50%), got 'half'"]
        ),
        ("max_ejection_percent: [50]", ["g.yaml:11:29: expected a percentage for 'max_ejection_percent', got a sequence"]),
        (
            "consecutive-failures: 3",
            ["g.yaml:11:7: unknown key 'consecutive-failures'; did you mean 'consecutive_failures'?"]
        ),
        ("count_500: true", ["g.yaml:11:7: unknown key 'count_500'; did you mean 'count_5xx'?"]),
    ])
    func outlierDetectionKeys(line: String, expected: [String]) {
        #expect(diagnostics(clusterConfig + "\n    outlier_detection:\n      " + line) == expected)
    }

    @Test(arguments: [
        ("slow_start: 0s", ["g.yaml:10:17: 'slow_start' must be greater than 0"]),
        ("slow_start: 30", ["g.yaml:10:17: invalid duration '30' for 'slow_start': \(durationUnit)"]),
        ("slow_start: true", ["g.yaml:10:17: invalid duration 'true' for 'slow_start': \(durationSyntax)"]),
        (
            "panic_threshold: 101",
            ["g.yaml:10:22: 'panic_threshold' must be a percentage from 0 to 100 (50 or 50%), got '101'"]
        ),
        (
            "panic_threshold: 50.5%",
            ["g.yaml:10:22: 'panic_threshold' must be a percentage from 0 to 100 (50 or 50%), got '50.5%'"]
        ),
        ("panic_threshold: {}", ["g.yaml:10:22: expected a percentage for 'panic_threshold', got a mapping"]),
        ("dns_refresh: 0s", ["g.yaml:10:18: 'dns_refresh' must be greater than 0"]),
        ("dns_refresh: never", ["g.yaml:10:18: invalid duration 'never' for 'dns_refresh': \(durationSyntax)"]),
        ("slowstart: 30s", ["g.yaml:10:5: unknown key 'slowstart'; did you mean 'slow_start'?"]),
        ("panic-threshold: 50", ["g.yaml:10:5: unknown key 'panic-threshold'; did you mean 'panic_threshold'?"]),
        ("dns_refresh_interval: 5s", ["g.yaml:10:5: unknown key 'dns_refresh_interval'"]),
        ("outlier_detecton: {}", ["g.yaml:10:5: unknown key 'outlier_detecton'; did you mean 'outlier_detection'?"]),
    ])
    func clusterKeys(line: String, expected: [String]) {
        #expect(diagnostics(clusterConfig + "\n    " + line) == expected)
    }

    /// `admin:` at the top level (line 10); its keys start at line 11, indented by two spaces.
    @Test(arguments: [
        (
            "\nadmin:\n  address: 0.0.0.0:9901",
            [
                "g.yaml:11:12: admin address 0.0.0.0:9901 is not loopback: set token_file (a file holding a bearer token) or listen on 127.0.0.1"
            ]
        ),
        (
            "\nadmin:\n  address: \"[::]:9901\"",
            [
                "g.yaml:11:12: admin address [::]:9901 is not loopback: set token_file (a file holding a bearer token) or listen on 127.0.0.1"
            ]
        ),
        (
            "\nadmin:\n  address: 10.0.0.1:9901",
            [
                "g.yaml:11:12: admin address 10.0.0.1:9901 is not loopback: set token_file (a file holding a bearer token) or listen on 127.0.0.1"
            ]
        ),
        (
            "\nadmin:\n  address: admin.internal:9901",
            [
                "g.yaml:11:12: admin address admin.internal:9901 is not loopback: set token_file (a file holding a bearer token) or listen on 127.0.0.1"
            ]
        ),
        (
            "\nadmin:\n  token_file: /etc/gatehouse/admin.token\n  address: 0.0.0.0:9901\n  token_file: /tmp/t",
            ["g.yaml:13:3: duplicate key 'token_file' (first given at g.yaml:11:3)"]
        ),
        ("\nadmin:\n  address: 127.0.0.1:9901\n  token_file: \"\"", ["g.yaml:12:15: 'token_file' must not be empty"]),
        (
            "\nadmin:\n  address: 127.0.0.1:9901\n  token_file: [a]",
            ["g.yaml:12:15: expected a string for 'token_file', got a sequence"]
        ),
        (
            "\nadmin:\n  address: 127.0.0.1:9901\n  token-file: /etc/gatehouse/admin.token",
            ["g.yaml:12:3: unknown key 'token-file'; did you mean 'token_file'?"]
        ),
        ("\nadmin: { token_file: /etc/gatehouse/admin.token }", ["g.yaml:10:8: 'admin' needs 'address'"]),
    ])
    func adminTokenFile(appendix: String, expected: [String]) {
        #expect(diagnostics(clusterConfig + appendix) == expected)
    }

    @Test func everyPolicyProblemIsReportedInFileOrder() {
        let yaml = """
            listeners:
              - name: public
                address: 127.0.0.1:8080
            admin:
              address: 0.0.0.0:9901
            clusters:
              app:
                servers:
                  - address: 127.0.0.1:3000
                balance: round_robin
                hash_on: client_address
                health_check:
                  type: tcp
                  path: /healthz
                  healthy_threshold: 0
                  expected_statuses: [200, 700]
                outlier_detection:
                  consecutive_failures: 0
                  count_5xx: on
                  max_ejection_percent: 200
                slow_start: 0s
                panic_threshold: -1
                dns_refresh: 30
              carts:
                servers:
                  - address: 127.0.0.1:4000
                balance: consistent_hash
            routes:
              - cluster: app
            """
        #expect(
            diagnostics(yaml) == [
                "g.yaml:5:12: admin address 0.0.0.0:9901 is not loopback: set token_file (a file holding a bearer token) or listen on 127.0.0.1",
                "g.yaml:11:14: hash_on only applies to balance: consistent_hash (balance is round_robin)",
                "g.yaml:14:13: a tcp health check has no path (use type: http)",
                "g.yaml:15:26: 'healthy_threshold' must be between 1 and 100, got 0",
                "g.yaml:16:32: invalid status '700' for expected_statuses[1]: expected 200, 200-299 or 2xx (100–599)",
                "g.yaml:18:29: 'consecutive_failures' must be between 1 and 1000, got 0",
                "g.yaml:19:18: expected true or false for 'count_5xx', got 'on'",
                "g.yaml:20:29: 'max_ejection_percent' must be a percentage from 0 to 100 (50 or 50%), got '200'",
                "g.yaml:21:17: 'slow_start' must be greater than 0",
                "g.yaml:22:22: 'panic_threshold' must be a percentage from 0 to 100 (50 or 50%), got '-1'",
                "g.yaml:23:18: invalid duration '30' for 'dns_refresh': \(Self.durationUnit)",
                "g.yaml:27:14: balance: consistent_hash needs hash_on (header: NAME, cookie: NAME or client_address)",
            ])
    }
}
