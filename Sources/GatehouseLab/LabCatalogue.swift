import GatehouseOrigins

/// The scenarios of `gatehouse lab`. Adding one is adding a value here (text in `{origin:NAME}`
/// becomes that origin's real `127.0.0.1:PORT` when the scenario runs).
public enum LabCatalogue {
    public static let all: [LabScenario] = [
        upstreamDown, slowUpstream, keepAliveRace, wrongPort, dnsGone, crashMidResponse, headerTooLarge, trafficSpike,
        allUnhealthy, certificateExpired,
    ]

    public static func scenario(_ id: String) -> LabScenario? {
        self.all.first { $0.id == id }
    }

    /// No retries unless a scenario says otherwise: every failure shows.
    static let oneTry = LabSetting("retries.attempts", "1")

    static let upstreamDown = LabScenario(
        id: "upstream-down",
        title: "The app process is down",
        story: """
            Monday, 09:02. The shop answers 502 Bad Gateway on every page. Nobody deployed anything this \
            morning. The gateway runs in front of one app server, {origin:app}.
            """,
        origins: [LabOrigin("app", .down, afterRestart: .healthy)],
        cluster: LabCluster(servers: [.origin("app")], settings: [LabSetting("timeouts.connect", "1s"), oneTry]),
        request: LabRequest(),
        edits: [
            LabEdit("timeouts.connect: 1s → 10s", [.set("timeouts.connect", "10s")], .noEffect),
            LabEdit("retries.attempts: 1 → 3", [.set("retries.attempts", "3")], .noEffect),
            LabEdit("timeouts.response_header: 30s → 120s", [.set("timeouts.response_header", "120s")], .noEffect),
        ],
        restart: .fixes,
        restartNote: "The app starts and listens on its port again.",
        providerReply: "The machine is up and our network is fine. Nothing listens on the app's port though: is your app running?",
        optimalPath: [.readErrorLog, .restartUpstream, .retryRequest],
        realWorldFix: """
            Start the app and find out why it stopped (its own log, `journalctl -u app`, an OOM kill in \
            `dmesg`); let a supervisor restart it (systemd Restart=on-failure). nginx logs `connect() failed \
            (111: Connection refused) while connecting to upstream` and answers 502; HAProxy answers 503 with \
            `SC--` after `retries 3`. Prevent the outage with a second server and health checks (Gatehouse \
            `health_check`, nginx `max_fails`/`fail_timeout`, HAProxy `check`).
            """)

    static let slowUpstream = LabScenario(
        id: "slow-upstream",
        title: "The upstream is slower than the timeout",
        story: """
            Tuesday, 14:10. Since the catalogue grew, the shop's front page answers 504 Gateway Timeout. The app \
            ({origin:app}) is up and its CPU is fine; its page takes about a second and a half to render.
            """,
        origins: [LabOrigin("app", .slow(milliseconds: 1_500))],
        cluster: LabCluster(
            servers: [.origin("app")], settings: [LabSetting("timeouts.connect", "1s"), LabSetting("timeouts.response_header", "1s"), oneTry]),
        request: LabRequest(),
        edits: [
            LabEdit("timeouts.response_header: 1s → 5s", [.set("timeouts.response_header", "5s")], .fixes),
            LabEdit("timeouts.connect: 1s → 10s", [.set("timeouts.connect", "10s")], .noEffect),
            LabEdit("timeouts.response_header: 1s → 500ms", [.set("timeouts.response_header", "500ms")], .worse),
            LabEdit("retries.attempts: 1 → 3", [.set("retries.attempts", "3")], .noEffect),
        ],
        restart: .noEffect,
        restartNote: "The app restarts. It is exactly as slow as before.",
        providerReply: "Your server's network and disks look normal from here. Slow pages are an application matter.",
        optimalPath: [.runDoctor, .edit(0), .retryRequest],
        realWorldFix: """
            Give the response header a limit above the slowest legitimate answer (Gatehouse \
            `timeouts.response_header`; nginx `proxy_read_timeout`, whose `upstream timed out (110: Connection \
            timed out) while reading response header from upstream` gives it away; HAProxy `timeout server`, \
            state `sH--`), and make the slow page faster or move the work to a background job.
            """)

    static let keepAliveRace = LabScenario(
        id: "keepalive-race",
        title: "The keep-alive race (idle connections closed by the upstream first)",
        story: """
            Wednesday, 11:30. Checkout (POST /orders) fails with 502 now and then, mostly when the shop is \
            quiet; browsing works. The app at {origin:app} was just moved to a new app server whose \
            keep-alive timeout is 400 ms. The gateway keeps idle upstream connections 30 s and does not \
            retry: orders must never be sent twice.
            """,
        origins: [LabOrigin("app", .keepAliveRace(idleMilliseconds: 400, lazyCloseMilliseconds: 2_500))],
        cluster: LabCluster(
            servers: [.origin("app")],
            settings: [
                LabSetting("pool.idle_timeout", "30s"), LabSetting("retries.attempts", "1"),
                LabSetting("retries.buffer_body", "0"),
            ]),
        request: LabRequest("POST", "/orders", body: "item=42&quantity=1", quietMilliseconds: 800),
        edits: [
            LabEdit("pool.idle_timeout: 30s → 300ms", [.set("pool.idle_timeout", "300ms")], .fixes),
            LabEdit("retries.attempts: 1 → 3", [.set("retries.attempts", "3")], .noEffect),
            LabEdit("timeouts.response_header: 30s → 120s", [.set("timeouts.response_header", "120s")], .noEffect),
            LabEdit("pool.idle_timeout: 30s → 5m", [.set("pool.idle_timeout", "5m")], .worse),
        ],
        restart: .hidesForAWhile,
        restartNote: """
            The app restarts; every pooled connection is new and traffic is busy right after, so no \
            connection sits idle for long.
            """,
        providerReply: "No packet loss and no resets on our network. Intermittent 502s with healthy servers are usually a timeout mismatch between your proxy and your app.",
        optimalPath: [.runDoctor, .edit(0), .retryRequest],
        realWorldFix: """
            Keep the proxy's idle upstream connections for less time than the app keeps them (Gatehouse \
            `pool.idle_timeout`; nginx `keepalive_timeout` in the upstream block, 1.15.3+; HAProxy `timeout \
            http-keep-alive`/`http-reuse safe`), or raise the app's (Node `server.keepAliveTimeout` with \
            `headersTimeout` above it, gunicorn `--keep-alive`, uvicorn `--timeout-keep-alive`). nginx logs \
            `upstream prematurely closed connection while reading response header from upstream` for the POST \
            and silently retries GETs (`upstream_status="502, 200"`); HAProxy logs 502 `SH--` with Tc=0.
            """)

    static let wrongPort = LabScenario(
        id: "wrong-port",
        title: "The proxy points at the wrong port",
        story: """
            Thursday, 08:45. After last night's maintenance every page is a 502. The app runs and answers on \
            {origin:app} (its start-up line says so). The maintenance also moved the cache service, which now \
            listens on {origin:cache}.
            """,
        origins: [LabOrigin("app", .healthy), LabOrigin("cache", .notHTTP, restartable: false)],
        cluster: LabCluster(servers: [.origin("cache")], settings: [LabSetting("timeouts.connect", "1s"), oneTry]),
        request: LabRequest(),
        edits: [
            LabEdit("servers: {origin:cache} → {origin:app}", [.servers([.origin("app")])], .fixes),
            LabEdit("timeouts.response_header: 30s → 120s", [.set("timeouts.response_header", "120s")], .noEffect),
            LabEdit(
                "limits.max_response_header_bytes: 32KiB → 64KiB", [.set("limits.max_response_header_bytes", "64KiB")],
                .noEffect),
        ],
        restart: .noEffect,
        restartNote: "The app restarts and answers on its port, as it did before.",
        providerReply: "Both of your services are up and listening. Which port your proxy talks to is in your own configuration.",
        optimalPath: [.runDoctor, .edit(0), .retryRequest],
        realWorldFix: """
            Point the upstream at the app's real port (Gatehouse `servers`; nginx `proxy_pass`/`server`; \
            HAProxy `server`) and check with `ss -ltnp` what listens where: `nginx -t` cannot know. nginx 1.22 \
            relays a non-HTTP answer as HTTP/0.9 (`upstream sent no valid HTTP/1.0 header`); HAProxy answers \
            502 `PH--`; Gatehouse answers 502 http_protocol_error.
            """)

    static let dnsGone = LabScenario(
        id: "dns-gone",
        title: "The upstream's name no longer resolves",
        story: """
            Friday, 16:20. Every page answers 502 since the old app host was decommissioned this afternoon. \
            The gateway still names the app app-v1.shop.invalid; the app itself was moved and runs at \
            {origin:app}.
            """,
        origins: [LabOrigin("app", .healthy)],
        cluster: LabCluster(
            servers: [.named(host: "app-v1.shop.invalid", port: "app")],
            settings: [LabSetting("timeouts.connect", "1s"), LabSetting("dns_refresh", "30s"), oneTry]),
        request: LabRequest(),
        edits: [
            LabEdit("servers: app-v1.shop.invalid → {origin:app}", [.servers([.origin("app")])], .fixes),
            LabEdit("dns_refresh: 30s → 1s", [.set("dns_refresh", "1s")], .noEffect),
            LabEdit("timeouts.connect: 1s → 10s", [.set("timeouts.connect", "10s")], .noEffect),
        ],
        restart: .noEffect,
        restartNote: "The app restarts at its new address. The gateway still asks DNS for the old name.",
        providerReply: "We deleted the DNS record app-v1.shop.invalid with the old host this afternoon, as requested. The app's new address is in your migration ticket.",
        optimalPath: [.readErrorLog, .edit(0), .retryRequest],
        realWorldFix: """
            Point the upstream at a name that resolves, or restore the record (`dig app-v1.example.com`). \
            nginx logs `app-v1 could not be resolved (3: Host not found)` (and needs a `resolver` to re-resolve \
            at run time); HAProxy marks the server `going DOWN for maintenance (DNS NX status)` with \
            `resolvers`/`hold nx`; Gatehouse answers 502 dns_error and re-resolves every `dns_refresh`.
            """)

    static let crashMidResponse = LabScenario(
        id: "crash-mid-response",
        title: "The app crashes mid-response",
        story: """
            Saturday, 10:05. Since this morning's release the front page loads half-way and stops. The new \
            release runs at {origin:app}; the previous release still runs at {origin:previous}.
            """,
        origins: [LabOrigin("app", .crashMidBody), LabOrigin("previous", .healthy, restartable: false)],
        cluster: LabCluster(servers: [.origin("app")], settings: [LabSetting("timeouts.connect", "1s"), oneTry]),
        request: LabRequest(),
        edits: [
            LabEdit("servers: {origin:app} → {origin:previous} (roll back)", [.servers([.origin("previous")])], .fixes),
            LabEdit("timeouts.idle: 60s → 120s", [.set("timeouts.idle", "120s")], .noEffect),
            LabEdit("retries.attempts: 1 → 3", [.set("retries.attempts", "3")], .noEffect),
        ],
        restart: .noEffect,
        restartNote: "The new release restarts. It crashes on the next page it renders, like before.",
        providerReply: "Nothing on our side: your server sends part of the page and then closes the connection itself.",
        optimalPath: [.readErrorLog, .edit(0), .retryRequest],
        realWorldFix: """
            Roll back (or fix) the release that dies while streaming, and read its log for the crash (stack \
            trace, OOM kill in `dmesg`, a worker timeout). The status was already sent, so every proxy logs \
            200: nginx adds `upstream prematurely closed connection while reading upstream`, HAProxy 200 \
            `SD--`; Gatehouse records http_response_incomplete. Clients see `curl: (18) transfer closed with \
            outstanding read data remaining`.
            """)

    static let certificateExpired = LabScenario(
        id: "cert-expired",
        title: "The upstream's TLS certificate expired",
        story: """
            Saturday, 00:07. Every page answers 502 Bad Gateway since midnight. The gateway speaks HTTPS to \
            the app ({origin:app}), whose certificate comes from the company's internal CA; the renewal job \
            ran on a server that was switched off last month.
            """,
        origins: [LabOrigin("app", .tls(.expired), afterRestart: .tls(.valid))],
        cluster: LabCluster(
            servers: [.origin("app")],
            settings: [LabSetting("tls.ca_file", "{pki:ca}"), LabSetting("tls.server_name", "localhost"), oneTry]),
        request: LabRequest(),
        edits: [
            LabEdit("tls.verify: true → false (stop checking the certificate)", [.set("tls.verify", "false")], .worse),
            LabEdit("timeouts.connect: 2s → 10s", [.set("timeouts.connect", "10s")], .noEffect),
            LabEdit("retries.attempts: 1 → 3", [.set("retries.attempts", "3")], .noEffect),
        ],
        restart: .fixes,
        restartNote: "You run the renewal job by hand on the app server (certbot renew / the CA's ACME client) and restart the app: it serves a new certificate, valid for a year.",
        providerReply: "Our network and machines are fine. The app's certificate is yours to renew: it is not one we manage.",
        optimalPath: [.runDoctor, .restartUpstream, .retryRequest],
        realWorldFix: """
            Renew the certificate and reload the app (certbot renew, cert-manager, your CA's ACME client), \
            then alert on expiry weeks ahead (Gatehouse `check` warns 14 days ahead for its own certificates; \
            Prometheus blackbox `probe_ssl_earliest_cert_expiry`). Turning verification off (`tls.verify: \
            false`, nginx `proxy_ssl_verify off`, HAProxy `verify none`) makes the 502 go away and lets \
            anyone on the path impersonate the app. nginx logs `upstream SSL certificate verify error: (10:\
            certificate has expired) while SSL handshaking to upstream`; HAProxy marks the server DOWN with \
            `SSL handshake failure` and answers 503.
            """)

    static let headerTooLarge = LabScenario(
        id: "header-too-large",
        title: "The response header is larger than the buffer",
        story: """
            Sunday, 19:40. Logged-in customers get 502 on the front page since marketing added tracking \
            cookies; the app ({origin:app}) now sends about 12 KB of response headers.
            """,
        origins: [LabOrigin("app", .oversizedHeader(bytes: 12_000))],
        cluster: LabCluster(
            servers: [.origin("app")], settings: [LabSetting("limits.max_response_header_bytes", "8KiB"), oneTry]),
        request: LabRequest(),
        edits: [
            LabEdit(
                "limits.max_response_header_bytes: 8KiB → 32KiB", [.set("limits.max_response_header_bytes", "32KiB")],
                .fixes),
            LabEdit(
                "limits.max_response_header_bytes: 8KiB → 4KiB", [.set("limits.max_response_header_bytes", "4KiB")],
                .worse),
            LabEdit("timeouts.response_header: 30s → 120s", [.set("timeouts.response_header", "120s")], .noEffect),
        ],
        restart: .noEffect,
        restartNote: "The app restarts and sends the same 12 KB of headers.",
        providerReply: "Our network carries headers of any size. Check what your proxy accepts.",
        optimalPath: [.readErrorLog, .edit(0), .retryRequest],
        realWorldFix: """
            Accept the header section (Gatehouse `limits.max_response_header_bytes`; nginx `proxy_buffer_size` \
            with `proxy_buffers`/`proxy_busy_buffers_size`, `fastcgi_buffer_size` for PHP, after `upstream \
            sent too big header while reading response header from upstream`; HAProxy `tune.bufsize`, 502 \
            `PH--`) and shrink the cookies: ALB stops at 32 KB, Cloudflare at 128 KB.
            """)

    static let trafficSpike = LabScenario(
        id: "traffic-spike",
        title: "Overload from a traffic spike",
        story: """
            Black Friday, 00:01. The sale link went viral and the shop answers 503 Service Unavailable to \
            most visitors. The app ({origin:app}) takes 0.8 s per page and has plenty of idle workers; the \
            gateway lets at most 4 requests at a time through to it.
            """,
        origins: [LabOrigin("app", .slow(milliseconds: 800))],
        cluster: LabCluster(servers: [.origin("app")], settings: [LabSetting("limits.max_requests", "4"), oneTry]),
        request: LabRequest(concurrentVisitors: 8),
        edits: [
            LabEdit("limits.max_requests: 4 → 64", [.set("limits.max_requests", "64")], .fixes),
            LabEdit("limits.max_requests: 4 → 1", [.set("limits.max_requests", "1")], .worse),
            LabEdit("timeouts.response_header: 30s → 120s", [.set("timeouts.response_header", "120s")], .noEffect),
        ],
        restart: .worse,
        restartNote: "The app restarted in the middle of the rush: the requests in flight were cut off, and the limit is still 4.",
        providerReply: "We see a big spike from many residential addresses following your sale link: real customers, not an attack, so our DDoS protection does not block them. Your origin has spare capacity.",
        optimalPath: [.readErrorLog, .edit(0), .retryRequest],
        realWorldFix: """
            Tell a spike from an attack first (many ordinary clients vs a few addresses: the incident's spike \
            hint, the access log). For real customers, let as many requests through as the app can serve \
            (Gatehouse `limits.max_requests`/`max_connections`; nginx `max_conns`, `limit_conn`; HAProxy \
            `maxconn` with `timeout queue`, state `sQ`); for an attack, rate-limit or block those clients \
            (nginx `limit_req`, HAProxy stick tables) or turn on the provider's DDoS protection.
            """)

    static let allUnhealthy = LabScenario(
        id: "all-unhealthy",
        title: "Every server fails its health check",
        story: """
            Monday, 07:55. The shop answers 503 on every page, yet both app servers ({origin:app-1} and \
            {origin:app-2}) answer fine when you curl them directly. Yesterday a colleague "tidied up" the \
            health checks.
            """,
        origins: [LabOrigin("app-1", .healthy), LabOrigin("app-2", .healthy)],
        cluster: LabCluster(
            servers: [.origin("app-1"), .origin("app-2")],
            settings: [
                LabSetting("health_check.path", "/healthz"), LabSetting("health_check.interval", "200ms"),
                LabSetting("health_check.timeout", "150ms"), LabSetting("health_check.healthy_threshold", "1"),
                LabSetting("health_check.unhealthy_threshold", "1"), LabSetting("panic_threshold", "0%"), oneTry,
            ]),
        request: LabRequest(),
        edits: [
            LabEdit("health_check.path: /healthz → /status/200", [.set("health_check.path", "/status/200")], .fixes),
            LabEdit("health_check.unhealthy_threshold: 1 → 5", [.set("health_check.unhealthy_threshold", "5")], .noEffect),
            LabEdit("health_check.interval: 200ms → 1s", [.set("health_check.interval", "1s")], .noEffect),
        ],
        restart: .noEffect,
        restartNote: "Both app servers restart. The health checks fail again at once.",
        providerReply: "Both servers are up and reachable from our side.",
        optimalPath: [.dashboard, .edit(0), .retryRequest],
        realWorldFix: """
            Make the health check ask for a page the app serves (Gatehouse `health_check.path`; HAProxy `option \
            httpchk GET /healthz`, which logs `Server app/app1 is DOWN, reason: Layer7 wrong status, code: 404` \
            and `backend app has no server available!`; nginx Plus `health_check uri=`), or add that endpoint to \
            the app. Keep a panic threshold so a broken check cannot take every server out.
            """)
}
