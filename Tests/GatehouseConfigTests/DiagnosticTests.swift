import GatehouseConfig
import Testing

/// Every kind of error, with its exact `file:line:col: message`. Line numbers of `minimalConfig` appendices
/// start at 10.
@Suite struct DiagnosticTests {
    @Test(arguments: [
        ("\nexpose_detail: true", ["g.yaml:10:1: unknown key 'expose_detail'; did you mean 'expose_details'?"]),
        ("\nExposeDetails: true", ["g.yaml:10:1: unknown key 'ExposeDetails'; did you mean 'expose_details'?"]),
        ("\ntrusted-proxies: []", ["g.yaml:10:1: unknown key 'trusted-proxies'; did you mean 'trusted_proxies'?"]),
        ("\nfrobnicate: 1", ["g.yaml:10:1: unknown key 'frobnicate'"]),
        ("\nexpose_details: yes", ["g.yaml:10:17: expected true or false for 'expose_details', got 'yes'"]),
        (
            "\ngateway_name: my gateway",
            ["g.yaml:10:15: 'gateway_name' may only contain letters, digits, '-', '.' and '_', got 'my gateway'"]
        ),
        ("\ngateway_name: \"\"", ["g.yaml:10:15: 'gateway_name' must not be empty"]),
        (
            "\ntrusted_proxies: [10.0.0.0/33, fd00::/129, localhost]",
            [
                "g.yaml:10:19: invalid address range '10.0.0.0/33': prefix length must be between 0 and 32, got '33'",
                "g.yaml:10:32: invalid address range 'fd00::/129': prefix length must be between 0 and 128, got '129'",
                "g.yaml:10:44: invalid address range 'localhost': expected an IP address or a CIDR range, like 10.0.0.0/8, 127.0.0.1 or fd00::/8",
            ]
        ),
        (
            "\ntrusted_proxies: 10.0.0.0/8",
            ["g.yaml:10:18: expected a sequence for 'trusted_proxies', got '10.0.0.0/8'"]
        ),
        (
            "\nrequest_limits: { max_header_bytes: 512, max_body_bytes: 10XB }",
            [
                "g.yaml:10:37: 'max_header_bytes' must be at least 1024 bytes, got 512",
                "g.yaml:10:58: invalid size '10XB' for 'max_body_bytes': expected bytes or a number with a unit, like 65536, 32KiB, 1MiB or 1GiB",
            ]
        ),
        ("\naccess_log: {}", ["g.yaml:10:13: 'access_log' needs 'path'"]),
        ("\naccess_log:\n  path: \"\"", ["g.yaml:11:9: 'path' must not be empty"]),
        (
            "\nadmin:\n  address: 127.0.0.1:8080",
            ["g.yaml:11:12: admin address 127.0.0.1:8080 is already used by listener 'public' at g.yaml:3:14"]
        ),
        (
            "\nadmin:\n  address: 127.0.0.1:0",
            ["g.yaml:11:12: invalid address '127.0.0.1:0': port must be between 1 and 65535, got 0"]
        ),
        ("\nadmin:", ["g.yaml:10:7: expected a mapping for 'admin', got an empty value"]),
        ("\nlisteners: []", ["g.yaml:10:1: duplicate key 'listeners' (first given at g.yaml:1:1)"]),
        (
            "\nexpose_details: true\nexpose_details: false\nexpose_details: true",
            [
                "g.yaml:11:1: duplicate key 'expose_details' (first given at g.yaml:10:1)",
                "g.yaml:12:1: duplicate key 'expose_details' (first given at g.yaml:10:1)",
            ]
        ),
        (
            "\n    strip_prefix: TRUE\n    strip_prefix: no",
            ["g.yaml:11:5: duplicate key 'strip_prefix' (first given at g.yaml:10:5)"]
        ),
    ])
    func topLevelAndRouteAppendices(appendix: String, expected: [String]) {
        #expect(diagnostics(minimalConfig + appendix) == expected)
    }

    @Test(arguments: [
        ("", ["g.yaml:1:1: the file is empty: a configuration needs 'listeners', 'clusters' and 'routes'"]),
        (
            "# nothing but a comment\n",
            ["g.yaml:1:1: the file is empty: a configuration needs 'listeners', 'clusters' and 'routes'"]
        ),
        ("- a\n- b", ["g.yaml:1:1: expected a mapping at the top of the file, got a sequence"]),
        (
            "listeners:\n  - name: public\n    address: [1, 2\nclusters: {}",
            [
                "g.yaml:4:9: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence at line 3, column 14)"
            ]
        ),
        (
            "listeners: []\nroutes: []\nclusters: {}",
            [
                "g.yaml:1:12: 'listeners' needs at least one entry",
                "g.yaml:2:9: 'routes' needs at least one entry",
                "g.yaml:3:11: 'clusters' needs at least one entry",
            ]
        ),
        (
            "clusters:\n  app:\n    servers: [{ address: \"10.0.0.1:80\" }]",
            [
                "g.yaml:1:1: the configuration needs 'listeners'",
                "g.yaml:1:1: the configuration needs 'routes'",
            ]
        ),
        (
            "listeners:\n  - name: public\n    address: 127.0.0.1:8080\nclusters:\n  - app\nroutes:\n  - cluster: app",
            ["g.yaml:5:3: expected a mapping for 'clusters', got a sequence"]
        ),
        (
            "listeners:\n  - name: public\n    address: 127.0.0.1:8080\nclusters:\n  app:\n    balance: round_robin\nroutes:\n  - cluster: app",
            ["g.yaml:6:5: cluster 'app' needs 'servers'"]
        ),
        (
            "listeners:\n  - name: { first: a }\n    address: 127.0.0.1:8080\nclusters:\n  my app:\n    servers: [{ address: \"10.0.0.1:80\" }]\nroutes:\n  - cluster: my app",
            [
                "g.yaml:2:11: expected a string for 'name', got a mapping",
                "g.yaml:5:3: cluster name 'my app' may only contain letters, digits, '-', '.' and '_'",
            ]
        ),
    ])
    func wholeFiles(yaml: String, expected: [String]) {
        #expect(diagnostics(yaml) == expected)
    }

    @Test func everyListenerProblemIsReported() {
        let yaml = """
            listeners:
              - name: public
                address: 127.0.0.1:8080
              - name: public
                address: 127.0.0.1:8080
              - address: localhost
              - name: v6
                address: fe80::1:8080
              - name: far
                address: 127.0.0.1:65536
              - name: zero-a
                address: 0.0.0.0:0
              - name: zero-b
                address: 0.0.0.0:0
            clusters:
              app:
                servers:
                  - address: 127.0.0.1:3000
            routes:
              - cluster: app
            """
        #expect(
            diagnostics(yaml) == [
                "g.yaml:4:11: duplicate listener name 'public' (already used at g.yaml:2:11)",
                "g.yaml:5:14: duplicate listener address 127.0.0.1:8080 (already used by listener 'public' at g.yaml:3:14)",
                "g.yaml:6:5: listeners[2] needs 'name'",
                "g.yaml:6:14: invalid address 'localhost': missing port (expected host:port, e.g. 127.0.0.1:8080)",
                "g.yaml:8:14: invalid address 'fe80::1:8080': IPv6 addresses need brackets: [fe80::1]:8080",
                "g.yaml:10:14: invalid address '127.0.0.1:65536': port must be between 0 and 65535, got 65536",
            ])
    }

    @Test func everyClusterProblemIsReported() {
        let yaml = """
            listeners:
              - name: public
                address: 127.0.0.1:8080
            clusters:
              app:
                servers:
                  - address: 127.0.0.1:3000
                  - address: 127.0.0.1:3000
                  - address: 127.0.0.1:0
                  - address: bad_host!:80
                  - address: "[::1]"
                  - address: 10.0.0.1:80
                    weight: 0
                  - address: 10.0.0.2:80
                    weight: 1.5
                  - weight: 2
                balance: round-robin
                timeouts:
                  connect: 30
                  response_header: 0s
                  idle: 1.5s
                  request: forever
                pool:
                  max_idle_per_server: -1
                  idle_timeout: 10
                limits:
                  max_response_header_bytes: 512
                health_checks: {}
            routes:
              - cluster: app
            """
        let duration = "expected a number with a unit, like 250ms, 2s, 5m, 1h or 1m30s"
        #expect(
            diagnostics(yaml) == [
                "g.yaml:8:18: duplicate server 127.0.0.1:3000 (already listed at g.yaml:7:18)",
                "g.yaml:9:18: invalid address '127.0.0.1:0': port must be between 1 and 65535, got 0",
                "g.yaml:10:18: invalid address 'bad_host!:80': 'bad_host!' is not a valid host name",
                "g.yaml:11:18: invalid address '[::1]': missing port (expected host:port, e.g. 127.0.0.1:8080, [::1]:8080)",
                "g.yaml:13:17: 'weight' must be between 1 and 1000, got 0",
                "g.yaml:15:17: expected an integer for 'weight', got '1.5'",
                "g.yaml:16:9: servers[7] needs 'address'",
                "g.yaml:17:14: unknown balance 'round-robin'; did you mean 'round_robin'? (allowed: round_robin, weighted_round_robin, least_request, random, consistent_hash)",
                "g.yaml:19:16: invalid duration '30' for 'connect': durations need a unit: 2s, 250ms, 5m, 1h",
                "g.yaml:20:24: 'response_header' must be greater than 0",
                "g.yaml:21:13: invalid duration '1.5s' for 'idle': \(duration)",
                "g.yaml:22:16: invalid duration 'forever' for 'request': \(duration)",
                "g.yaml:24:28: 'max_idle_per_server' must be at least 0, got -1",
                "g.yaml:25:21: invalid duration '10' for 'idle_timeout': durations need a unit: 2s, 250ms, 5m, 1h",
                "g.yaml:27:34: 'max_response_header_bytes' must be at least 1024 bytes, got 512",
                "g.yaml:28:5: unknown key 'health_checks'; did you mean 'health_check'?",
            ])
    }

    @Test func everyRouteProblemIsReportedInFileOrder() {
        let yaml = """
            listeners:
              - name: public
                address: 127.0.0.1:8080
            clusters:
              app:
                servers:
                  - address: 127.0.0.1:3000
            routes:
              - cluster: ap
              - cluster: zzz
              - match: { host: "bad host", path_prefix: api }
                cluster: app
              - cluster: app
                strip_prefix: yes
              - cluster: app
                strip_prefix: true
                rewrite_prefix: /v2/
              - cluster: app
                cluster: app
              - match: /api
                cluster: app
                host_rewrite: "not a host"
              - name: ""
                cluster: app
              - strip_prefix: false
              - []
              - match: { host: a.example.com, hots: b.example.com, host: c.example.com }
                cluster: app
            """
        #expect(
            diagnostics(yaml) == [
                "g.yaml:9:14: unknown cluster 'ap'; did you mean 'app'?",
                "g.yaml:10:14: unknown cluster 'zzz' (defined: app)",
                "g.yaml:11:20: expected a host such as shop.example.com or *.example.com for 'host', got 'bad host'",
                "g.yaml:11:45: 'path_prefix' must be a path starting with '/' (no spaces, '?' or '#'), got 'api'",
                "g.yaml:14:19: expected true or false for 'strip_prefix', got 'yes'",
                "g.yaml:17:21: strip_prefix and rewrite_prefix cannot be combined (rewrite_prefix: / strips the prefix)",
                "g.yaml:19:5: duplicate key 'cluster' (first given at g.yaml:18:5)",
                "g.yaml:20:12: expected a mapping for 'match', got '/api'",
                "g.yaml:22:19: expected preserve, upstream or a host such as api.example.com for 'host_rewrite', got 'not a host'",
                "g.yaml:23:11: 'name' must not be empty",
                "g.yaml:25:5: routes[8] needs 'cluster'",
                "g.yaml:26:5: expected a mapping for routes[9], got a sequence",
                "g.yaml:27:35: unknown key 'hots'; did you mean 'host'?",
                "g.yaml:27:56: duplicate key 'host' (first given at g.yaml:27:14)",
            ])
    }
}
