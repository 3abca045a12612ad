import GatehouseErrors

/// The words of the report: each cause in plain words and its fix, with the knob to turn in the
/// configuration of the server that logged it (CAUSES.md §3 and §6).
extension Cause {
    /// One sentence an operator understands without knowing the cause id.
    public var plainWords: String {
        switch self {
        case .upstreamNotListening:
            return "Nothing listens on the upstream's address and port: the connection was refused."
        case .upstreamConnectTimeout:
            return
                "The TCP connection to the upstream was never established (SYNs dropped, or the upstream's accept queue is full)."
        case .upstreamResponseTimeout:
            return "The upstream accepted the request but sent no response header before the proxy's read timeout."
        case .upstreamBodyTimeout:
            return
                "The upstream sent its headers, then the body stalled until the read timeout: the client got a truncated 200."
        case .upstreamNotReadingRequest:
            return "The upstream did not read the request (body) before the proxy's send timeout."
        case .upstreamClosedBeforeResponse:
            return
                "The upstream closed the connection before sending any response byte (crash, worker exit, or it rejected the request)."
        case .upstreamResetBeforeResponse:
            return "The upstream reset the connection (RST) before sending any response byte."
        case .appWorkerKilledTimeout:
            return
                "The application server killed its own worker at its request timeout, so the proxy saw the connection close before a response."
        case .keepaliveRace:
            return
                "The upstream closed an idle keep-alive connection just as the proxy reused it: its idle timeout is shorter than the proxy's."
        case .upstreamClosedMidBody:
            return "The upstream closed the connection in the middle of the body: the client got a truncated 200."
        case .upstreamResetMidBody:
            return "The upstream reset the connection in the middle of the body: the client got a truncated 200."
        case .contentLengthMismatch: return "The upstream sent fewer body bytes than its Content-Length announced."
        case .invalidStatusLine:
            return "The upstream's answer is not valid HTTP (bad or missing status line): wrong port or protocol?"
        case .invalidResponseHeader: return "The upstream sent a malformed response header."
        case .responseHeaderTooLarge:
            return "The upstream's response headers are larger than the proxy's header buffer (big cookies?)."
        case .invalidChunkedEncoding: return "The upstream's chunked transfer encoding is broken."
        case .noHealthyUpstream:
            return "Every server of the upstream group is marked down: the proxy had no server to send the request to."
        case .upstreamConnectionLimit:
            return "Every server is at the proxy's own per-server connection limit (max_conns / maxconn)."
        case .dnsNXDomain: return "The upstream's host name does not resolve (NXDOMAIN or another DNS error)."
        case .dnsTimeout: return "The DNS resolver did not answer in time for the upstream's host name."
        case .noResolverConfigured:
            return "The upstream is a host name resolved at run time, but no resolver is configured."
        case .tlsUntrustedCertificate:
            return "The upstream's TLS certificate is not trusted (self-signed or unknown CA)."
        case .tlsExpiredCertificate:
            return "The upstream's TLS handshake fails, most likely on an expired (or not yet valid) certificate."
        case .tlsHostnameMismatch: return "The upstream's TLS certificate does not cover the name the proxy checks."
        case .tlsClientCertificateRequired:
            return "The upstream rejected the TLS handshake with an alert: it wants a client certificate."
        case .tlsToPlaintextUpstream:
            return "The proxy speaks TLS to an upstream port that does not (plain HTTP on the other side?)."
        case .fastCGIPoolExhausted:
            return
                "All PHP-FPM children are busy and the socket's listen queue is full: new requests are refused, queued ones time out."
        case .fastCGISocketPermission: return "The proxy may not open the FastCGI unix socket (permission denied)."
        case .fastCGISocketMissing:
            return "The FastCGI socket does not exist or nothing listens on it: PHP-FPM is down or the path is wrong."
        case .forwardingLoop:
            return "The proxy forwards requests to itself: one client request loops until connections run out."
        case .upstreamReturned502: return "The upstream itself answered 5xx; the proxy only relayed it."
        case .destinationUnroutable:
            return "The upstream's address is unreachable (no route to host / network unreachable)."
        case .destinationNotConfigured: return "No backend or route is configured for these requests."
        case .proxyResourceExhaustion:
            return "The proxy ran out of a local resource (file descriptors, ephemeral ports)."
        case .requestRateLimited: return "The proxy rejected the requests with its own rate or connection limit."
        case .destinationProhibited: return "The upstream address is forbidden by the gateway's policy."
        case .upgradeFailed: return "The upstream refused the protocol upgrade (WebSocket)."
        case .responseTooLarge: return "The upstream's body or trailers are larger than the gateway's limit."
        case .invalidContentCoding: return "The upstream's Content-Encoding is invalid."
        case .gatewayMisconfigured: return "The gateway's configuration sends these requests nowhere valid."
        case .unexplainedGatewayError:
            return "The proxy answered 5xx, but this access log format has no upstream fields to say why."
        }
    }

    /// The fix, with the knob of each server that logged this cause.
    ///
    /// - Parameters:
    ///   - families: which servers' logs showed the cause; their knobs are named (all when empty).
    ///   - fastCGI: the upstream is FastCGI, so nginx's `fastcgi_*` directives apply instead of `proxy_*`.
    func fix(families: Set<LogFamily>, fastCGI: Bool) -> String {
        let module = fastCGI ? "fastcgi" : "proxy"
        var knobs: [(LogFamily, String)] = []
        let general: String
        switch self {
        case .upstreamNotListening:
            general =
                "Start the upstream service, or correct the address and port the proxy dials (check it binds the interface used: 127.0.0.1 vs ::1 vs 0.0.0.0)."
            knobs = [
                (.nginx, "nginx: the `server` in `upstream {}` / `proxy_pass` address"),
                (.haproxy, "HAProxy: the `server` line's address:port"),
                (.gatehouse, "Gatehouse: `clusters.<name>.servers[].address`"),
            ]
        case .upstreamConnectTimeout:
            general =
                "Find why the upstream does not accept connections (overloaded event loop, listen backlog / net.core.somaxconn, firewall dropping SYNs); the connect timeout only bounds the wait."
            knobs = [
                (.nginx, "nginx: `\(module)_connect_timeout`"), (.haproxy, "HAProxy: `timeout connect`"),
                (.gatehouse, "Gatehouse: `timeouts.connect`"),
            ]
        case .upstreamResponseTimeout:
            general =
                "Make the slow endpoint fast or asynchronous; raise the read timeout only for legitimately long requests, keeping the app server's own timeout consistent."
            knobs = [
                (.nginx, "nginx: `\(module)_read_timeout` (default 60s)"), (.haproxy, "HAProxy: `timeout server`"),
                (.gatehouse, "Gatehouse: `timeouts.response_header`"),
            ]
        case .upstreamBodyTimeout:
            general =
                "Find what stalls the upstream mid-body; for real streams (SSE, long-poll) raise the read timeout and disable buffering."
            knobs = [
                (.nginx, "nginx: `\(module)_read_timeout`, `\(module)_buffering off` for streams"),
                (.haproxy, "HAProxy: `timeout server`"), (.gatehouse, "Gatehouse: `timeouts.idle`"),
            ]
        case .upstreamNotReadingRequest:
            general =
                "Fix the upstream's upload handling (it stops reading the body); raise the send timeout only for slow uploads."
            knobs = [
                (.nginx, "nginx: `\(module)_send_timeout`, `client_max_body_size`, `\(module)_request_buffering`"),
                (.haproxy, "HAProxy: `timeout server`"), (.gatehouse, "Gatehouse: `timeouts.idle`"),
            ]
        case .upstreamClosedBeforeResponse, .upstreamResetBeforeResponse:
            general =
                "Read the application's log at these times: crash trace, OOM kill (`dmesg`), worker restart, request size limit. If it only hits reused connections, see keep-alive timeouts."
            knobs = [
                (.haproxy, "HAProxy: `retry-on empty-response conn-failure` only for idempotent requests"),
                (.gatehouse, "Gatehouse: `retries` for idempotent requests"),
            ]
        case .appWorkerKilledTimeout:
            general =
                "The app server's worker timeout is shorter than the request: raise gunicorn `--timeout` (default 30s) / php-fpm `request_terminate_timeout` / uWSGI `harakiri` above the slowest legitimate request (and below the proxy's read timeout), or move slow work to background jobs / async workers."
            knobs = [
                (.nginx, "nginx: keep `\(module)_read_timeout` above the app timeout"),
                (.haproxy, "HAProxy: keep `timeout server` above the app timeout"),
            ]
        case .keepaliveRace:
            general =
                "Make the upstream's keep-alive idle timeout longer than the proxy's: Node.js `server.keepAliveTimeout` (and `headersTimeout` above it), gunicorn `--keep-alive`, uvicorn `--timeout-keep-alive`, Apache `KeepAliveTimeout`."
            knobs = [
                (.nginx, "nginx: or shorten the upstream `keepalive_timeout` (default 60s) below the app's"),
                (
                    .haproxy,
                    "HAProxy: `timeout server` / `http-reuse safe`, `retry-on conn-failure empty-response` for idempotent requests"
                ), (.gatehouse, "Gatehouse: `pool.idle_timeout` below the upstream's keep-alive timeout"),
            ]
        case .upstreamClosedMidBody, .upstreamResetMidBody, .contentLengthMismatch:
            general =
                "The upstream dies while streaming the body: look for crashes, worker timeouts, or a Content-Length that does not match the body (compression middleware, string vs byte length)."
        case .invalidStatusLine:
            general =
                "Point the proxy at the port that really speaks HTTP, or fix the upstream's response writer (status line `HTTP/1.1 200 OK`)."
            knobs = [
                (
                    .haproxy,
                    "HAProxy blocks it (`PH--`); same state for bad headers, `tune.bufsize` overflows and bad chunking"
                )
            ]
        case .invalidResponseHeader:
            general = "Sanitise the header values the application writes (no bare CR, LF or NUL; one Content-Length)."
            knobs = [(.haproxy, "HAProxy: `option accept-invalid-http-response` only as a stopgap")]
        case .responseHeaderTooLarge:
            general = "Shrink the response headers (cookies, debug headers), or raise the proxy's header buffer."
            knobs = [
                (
                    .nginx,
                    "nginx: `\(module)_buffer_size` (4k|8k) and `\(module)_buffers`\(fastCGI ? "" : ", `proxy_busy_buffers_size`")"
                ), (.haproxy, "HAProxy: `tune.bufsize` (16384; memory per connection)"),
                (.gatehouse, "Gatehouse: `limits.max_response_header_bytes`"),
            ]
        case .invalidChunkedEncoding:
            general = "Fix the upstream's chunk writer (often double chunking by a framework plus a middleware)."
        case .noHealthyUpstream:
            general =
                "Repair the reason the servers went down (the first connect error or health-check failure shown), fix the health-check URL, add capacity or backup servers."
            knobs = [
                (.nginx, "nginx: `max_fails` / `fail_timeout` on `server`, `backup` servers"),
                (.haproxy, "HAProxy: `check inter/fall/rise`, `option httpchk`, `backup`"),
                (.gatehouse, "Gatehouse: `health_check` and `outlier_detection`"),
            ]
        case .upstreamConnectionLimit:
            general =
                "Raise the per-server connection cap to the upstream's real capacity, add servers, or make requests faster."
            knobs = [
                (.nginx, "nginx: `max_conns` on `server`"), (.haproxy, "HAProxy: server `maxconn`, `timeout queue`"),
                (.gatehouse, "Gatehouse: `limits` of the cluster"),
            ]
        case .dnsNXDomain:
            general =
                "Correct the host name / DNS record / service registration (nginx does not use resolv.conf search domains at run time: use FQDNs)."
            knobs = [
                (.nginx, "nginx: the name in `proxy_pass` and `resolver`"),
                (.haproxy, "HAProxy: the `server` name, `resolvers` section, `hold nx`"),
                (.gatehouse, "Gatehouse: `servers[].address`, `dns.servers`"),
            ]
        case .dnsTimeout:
            general =
                "Point the proxy at a DNS server that answers; raise the resolver timeout only if DNS is merely slow."
            knobs = [
                (.nginx, "nginx: `resolver` / `resolver_timeout`"),
                (.haproxy, "HAProxy: `nameserver` / `timeout resolve`"), (.gatehouse, "Gatehouse: `dns.servers`"),
            ]
        case .noResolverConfigured:
            general = "Configure a resolver for names resolved at run time, or use a name resolved at start-up."
            knobs = [
                (.nginx, "nginx: `resolver <ip> valid=30s;` (or a literal name in an `upstream {}` block)"),
                (.haproxy, "HAProxy: a `resolvers` section and `resolvers <name>` on the server (`init-addr`)"),
            ]
        case .tlsUntrustedCertificate:
            general = "Give the upstream a certificate from a trusted CA, or trust the private CA that signed it."
            knobs = [
                (.nginx, "nginx: `proxy_ssl_trusted_certificate` (with `proxy_ssl_verify on`)"),
                (.haproxy, "HAProxy: `ca-file` on the `server` line (`ssl verify required`)"),
                (.gatehouse, "Gatehouse: the cluster's TLS CA"),
            ]
        case .tlsExpiredCertificate:
            general =
                "Renew the upstream's certificate (automate renewal, reload the upstream after it) and check clocks; if it is not expiry, check the chain and TLS versions."
            knobs = [
                (
                    .haproxy,
                    "HAProxy: the health check only says `SSL handshake failure`; test with `openssl s_client -connect <server>`"
                )
            ]
        case .tlsHostnameMismatch:
            general =
                "Make the certificate's SAN cover the name the proxy verifies, or verify the name the certificate has."
            knobs = [
                (.nginx, "nginx: `proxy_ssl_name` + `proxy_ssl_server_name on`"),
                (.haproxy, "HAProxy: `sni` and `verifyhost` on the `server` line"),
            ]
        case .tlsClientCertificateRequired:
            general = "Present a client certificate to the upstream, or relax its client-certificate requirement."
            knobs = [
                (.nginx, "nginx: `proxy_ssl_certificate` / `proxy_ssl_certificate_key`"),
                (.haproxy, "HAProxy: `crt` on the `server` line"),
            ]
        case .tlsToPlaintextUpstream:
            general = "Use http:// (drop `ssl`) for a plain-HTTP upstream, or dial its TLS port."
            knobs = [
                (.nginx, "nginx: `proxy_pass http://…`"), (.haproxy, "HAProxy: remove `ssl` from the `server` line"),
            ]
        case .fastCGIPoolExhausted:
            general =
                "Raise php-fpm `pm.max_children` (memory permitting) and `listen.backlog` (+ net.core.somaxconn), make scripts faster, cut runaways with `request_terminate_timeout`."
            knobs = [(.nginx, "nginx: requests that got queued then hit `fastcgi_read_timeout`")]
        case .fastCGISocketPermission:
            general =
                "Let the web server user open the socket: php-fpm `listen.owner` / `listen.group` = the proxy's user (www-data), or `listen.mode = 0660` with a shared group."
        case .fastCGISocketMissing:
            general =
                "Start php-fpm, and make the proxy's socket path match the pool's `listen` (version-specific /run/php/php8.x-fpm.sock)."
            knobs = [
                (.nginx, "nginx: `fastcgi_pass unix:…`"), (.haproxy, "HAProxy: the `server` line's unix socket path"),
            ]
        case .forwardingLoop:
            general =
                "Point the upstream at the application, not at the proxy's own address/port (check DNS and the port); add a hop check (Via / X-Forwarded-For length)."
        case .upstreamReturned502:
            general =
                "Not the proxy: diagnose the next hop with its own logs (the application's error, or the inner proxy's error log: apply this analysis one level down)."
        case .destinationUnroutable:
            general = "Fix routing, security groups / NACLs, or the IP the name resolves to."
        case .destinationNotConfigured:
            general = "Add the route / `use_backend` rule or a `default_backend` for these requests."
        case .proxyResourceExhaustion:
            general = "Raise the proxy's limits or reuse connections."
            knobs = [
                (
                    .nginx,
                    "nginx: `worker_rlimit_nofile`, `worker_connections`, upstream `keepalive` (ephemeral ports, `ip_local_port_range`)"
                ), (.haproxy, "HAProxy: `maxconn`, `ulimit-n`, `source` port ranges"),
            ]
        case .requestRateLimited:
            general = "Slow the clients down or raise the limit if it is too strict."
            knobs = [
                (.nginx, "nginx: `limit_req` / `limit_conn` (`limit_req_status`)"),
                (.gatehouse, "Gatehouse: the route's `rate_limit`"),
            ]
        case .destinationProhibited, .upgradeFailed, .responseTooLarge, .invalidContentCoding, .gatewayMisconfigured:
            general = proxyStatus.map { $0.fixHint } ?? ""
        case .unexplainedGatewayError:
            general =
                "Give `explain` the error log too, or add `$upstream_addr`, `$upstream_status`, `$upstream_connect_time`, `$upstream_header_time`, `$upstream_response_time` to the access log format."
        }
        let shown = knobs.filter { families.isEmpty || families.contains($0.0) }.map(\.1)
        return shown.isEmpty ? general : general + " " + shown.joined(separator: "; ") + "."
    }
}
