import GatehouseConfig
import Testing

/// The `request_limits` keys of the hardening issue: request target length, header count and
/// pipelining depth, with their defaults and diagnostics.
@Suite struct RequestLimitsTests {
    @Test func defaultsAreSafe() throws {
        let limits = try #require(parseValid(minimalConfig)).requestLimits
        #expect(limits.maxRequestLineBytes == 8192)
        #expect(limits.maxHeaderCount == 100)
        #expect(limits.maxPipelinedRequests == 32)
        #expect(limits == RequestLimits())
    }

    @Test func everyKeyIsRead() throws {
        let yaml =
            minimalConfig + """

                request_limits:
                  max_header_bytes: 16KiB
                  max_body_bytes: 1MiB
                  max_request_line_bytes: 4KiB
                  max_header_count: 50
                  max_pipelined_requests: 0
                """
        let limits = try #require(parseValid(yaml)).requestLimits
        #expect(
            limits
                == RequestLimits(
                    maxHeaderBytes: 16384, maxBodyBytes: 1_048_576, maxRequestLineBytes: 4096, maxHeaderCount: 50,
                    maxPipelinedRequests: 0))
    }

    @Test(arguments: [
        (
            "\nrequest_limits: { max_request_line_bytes: 100 }",
            ["g.yaml:10:43: 'max_request_line_bytes' must be at least 256 bytes, got 100"]
        ),
        (
            "\nrequest_limits: { max_header_count: 0 }",
            ["g.yaml:10:37: 'max_header_count' must be between 1 and 65000, got 0"]
        ),
        (
            "\nrequest_limits: { max_pipelined_requests: -1 }",
            ["g.yaml:10:43: 'max_pipelined_requests' must be between 0 and 10000, got -1"]
        ),
        (
            "\nrequest_limits: { max_header_cont: 10 }",
            ["g.yaml:10:19: unknown key 'max_header_cont'; did you mean 'max_header_count'?"]
        ),
    ])
    func outOfRangeValuesAreDiagnosed(_ appendix: String, _ expected: [String]) {
        #expect(diagnostics(minimalConfig + appendix) == expected)
    }
}
