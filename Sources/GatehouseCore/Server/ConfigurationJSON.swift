import GatehouseConfig
import GatehouseErrors

/// The running configuration as JSON, for `GET /admin/config`: every value after defaults, so an
/// operator sees what the gateway really uses. The admin token itself is never in the model (only
/// its file's path), so nothing secret can leak from here.
enum ConfigurationJSON {
    static func render(_ configuration: GatehouseConfiguration) -> String {
        var json = "{\"gateway_name\":\(q(configuration.gatewayName)),\"expose_details\":\(configuration.exposeDetails)"
        json += ",\"listeners\":["
        json += configuration.listeners.map {
            "{\"name\":\(q($0.name)),\"address\":\(q($0.address.description)),\"tls\":"
                + ($0.tls.map(Self.listenerTLS) ?? "null") + "}"
        }
        .joined(separator: ",")
        json += "],\"admin\":"
        if let admin = configuration.admin {
            json += "{\"address\":\(q(admin.address.description)),\"token_file\":"
            json += (admin.tokenFile.map(q) ?? "null") + "}"
        } else {
            json += "null"
        }
        json += ",\"access_log\":"
        switch configuration.accessLog {
        case .stdout: json += "\"stdout\""
        case .off: json += "\"off\""
        case .file(let path): json += q(path)
        }
        let limits = configuration.requestLimits
        json += ",\"request_limits\":{\"max_header_bytes\":\(limits.maxHeaderBytes),\"max_body_bytes\":\(limits.maxBodyBytes)"
        json += ",\"max_request_line_bytes\":\(limits.maxRequestLineBytes),\"max_header_count\":\(limits.maxHeaderCount)"
        json += ",\"max_pipelined_requests\":\(limits.maxPipelinedRequests)}"
        let client = configuration.clientTimeouts
        json += ",\"client_timeouts\":{\"header\":\(d(client.header)),\"keep_alive\":\(d(client.keepAlive))"
        json += ",\"body_min_rate\":\(client.bodyMinRate),\"body_rate_window\":\(d(client.bodyRateWindow))}"
        json += ",\"trusted_proxies\":[" + configuration.trustedProxies.map { q($0.description) }.joined(separator: ",") + "]"
        json += ",\"clusters\":{" + configuration.clusters.map { "\(q($0.name)):" + Self.cluster($0) }.joined(separator: ",")
        json += "},\"routes\":[" + configuration.routes.map(Self.route).joined(separator: ",") + "]"
        json += ",\"alerts\":" + Self.alerts(configuration.alerts)
        json += ",\"storage\":"
        if let storage = configuration.storage {
            json += "{\"path\":\(q(storage.path)),\"retention\":\(d(storage.retention)),\"max_errors\":\(storage.maxErrors)}"
        } else {
            json += "null"
        }
        json += ",\"tracing\":" + (configuration.tracing.map(Self.tracing) ?? "null")
        json += ",\"cache\":{\"max_bytes\":\(configuration.cache.maxBytes),\"max_object_bytes\":\(configuration.cache.maxObjectBytes)}"
        return json + "}\n"
    }

    private static func alerts(_ alerts: Alerts) -> String {
        let incident = alerts.incident
        var json = "{\"incident\":{\"window\":\(d(incident.window)),\"error_ratio\":\(incident.errorRatio)"
        json += ",\"min_requests\":\(incident.minRequests),\"recovery\":\(d(incident.recovery))"
        json += ",\"spike_factor\":\(incident.spikeFactor),\"interval\":\(d(incident.interval))},\"webhooks\":["
        // The URL may carry a secret (Slack's hook path is one): only its scheme and host are shown.
        json += alerts.webhooks.map { hook in
            "{\"url\":\(q(Self.redacted(hook.url))),\"format\":\"\(hook.format.rawValue)\",\"timeout\":\(d(hook.timeout)),\"retries\":\(hook.retries)}"
        }.joined(separator: ",")
        return json + "]}"
    }

    /// `https://hooks.slack.com/…`: enough to recognise the receiver, not enough to post to it.
    static func redacted(_ url: HTTPURL) -> String {
        var shown = url
        shown.path = "/"
        let text = shown.description
        return url.path == "/" ? text : text + "…"
    }

    /// Header values are left out: they usually carry the collector's credentials.
    private static func tracing(_ tracing: TracingConfiguration) -> String {
        var json = "{\"endpoint\":\(q(tracing.endpoint)),\"protocol\":\(q(tracing.exportProtocol.rawValue))"
        json += ",\"sample_ratio\":\(tracing.sampleRatio),\"service_name\":\(q(tracing.serviceName))"
        json += ",\"timeout\":\(d(tracing.timeout)),\"schedule_delay\":\(d(tracing.scheduleDelay))"
        json += ",\"max_queue_size\":\(tracing.maxQueueSize),\"headers\":{"
        json += tracing.headers.map { "\(q($0.name)):\"(redacted)\"" }.joined(separator: ",") + "}}"
        return json
    }

    /// Files and what was read from them (names, expiry), never the key itself.
    private static func listenerTLS(_ tls: ListenerTLS) -> String {
        var json = "{\"certificates\":["
        json += tls.certificates.map { pair in
            "{\"cert\":\(q(pair.certFile)),\"key\":\(q(pair.keyFile)),\"names\":["
                + pair.names.map(q).joined(separator: ",") + "],\"not_after\":"
                + q(CivilDate.isoDate(epochSeconds: pair.notAfter)) + "}"
        }.joined(separator: ",")
        json += "],\"min_version\":\(q(tls.minimumVersion.rawValue)),\"alpn\":[" + tls.alpn.map(q).joined(separator: ",") + "]}"
        return json
    }

    private static func upstreamTLS(_ tls: UpstreamTLS) -> String {
        var json = "{\"ca_file\":" + (tls.caFile.map(q) ?? "null") + ",\"server_name\":" + (tls.serverName.map(q) ?? "null")
        json += ",\"verify\":\(tls.verify),\"client_certificate\":"
        json += tls.clientCertificate.map { "{\"cert\":\(q($0.certFile)),\"key\":\(q($0.keyFile))}" } ?? "null"
        return json + "}"
    }

    private static func cluster(_ cluster: Cluster) -> String {
        var json = "{\"tls\":" + (cluster.tls.map(Self.upstreamTLS) ?? "null") + ",\"servers\":["
        json += cluster.servers.map { "{\"address\":\(q($0.address.description)),\"weight\":\($0.weight)}" }
            .joined(separator: ",")
        json += "],\"balance\":\"\(cluster.balance.rawValue)\",\"hash_on\":"
        switch cluster.hashOn {
        case .none: json += "null"
        case .header(let name): json += "{\"header\":\(q(name))}"
        case .cookie(let name): json += "{\"cookie\":\(q(name))}"
        case .clientAddress: json += "\"client_address\""
        }
        let timeouts = cluster.timeouts
        json += ",\"timeouts\":{\"connect\":\(d(timeouts.connect)),\"response_header\":\(d(timeouts.responseHeader))"
        json += ",\"idle\":\(d(timeouts.idle)),\"request\":\(d(timeouts.request))}"
        json += ",\"pool\":{\"max_idle_per_server\":\(cluster.pool.maxIdlePerServer),\"idle_timeout\":\(d(cluster.pool.idleTimeout))}"
        json += ",\"limits\":{\"max_response_header_bytes\":\(cluster.limits.maxResponseHeaderBytes)}"
        json += ",\"health_check\":"
        if let check = cluster.healthCheck {
            switch check.kind {
            case .http(let path): json += "{\"type\":\"http\",\"path\":\(q(path))"
            case .tcp: json += "{\"type\":\"tcp\""
            }
            json += ",\"interval\":\(d(check.interval)),\"jitter\":\(d(check.jitter)),\"timeout\":\(d(check.timeout))"
            json += ",\"healthy_threshold\":\(check.healthyThreshold),\"unhealthy_threshold\":\(check.unhealthyThreshold)"
            json += ",\"expected_statuses\":["
            json += check.expectedStatuses.map { q($0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)") }
                .joined(separator: ",")
            json += "],\"expected_body\":" + (check.expectedBody.map(q) ?? "null")
            json += ",\"host\":" + (check.host.map(q) ?? "null") + "}"
        } else {
            json += "null"
        }
        json += ",\"outlier_detection\":"
        if let detection = cluster.outlierDetection {
            json += "{\"consecutive_failures\":\(detection.consecutiveFailures),\"count_5xx\":\(detection.countServerErrors)"
            json += ",\"base_ejection_time\":\(d(detection.baseEjectionTime)),\"max_ejection_time\":\(d(detection.maxEjectionTime))"
            json += ",\"max_ejection_percent\":\(detection.maxEjectionPercent)}"
        } else {
            json += "null"
        }
        json += ",\"slow_start\":" + (cluster.slowStart.map(d) ?? "null")
        json += ",\"panic_threshold\":\(cluster.panicThreshold),\"dns_refresh\":\(d(cluster.dnsRefresh))}"
        return json
    }

    private static func route(_ route: Route) -> String {
        var json = "{\"name\":\(q(route.name)),\"match\":{\"host\":" + (route.match.host.map(q) ?? "null")
        json += ",\"path_prefix\":\(q(route.match.pathPrefix))},\"cluster\":\(q(route.cluster))"
        json += ",\"strip_prefix\":\(route.stripPrefix),\"rewrite_prefix\":" + (route.rewritePrefix.map(q) ?? "null")
        json += ",\"host\":"
        switch route.hostRewrite {
        case .preserve: json += "\"preserve\""
        case .upstream: json += "\"upstream\""
        case .fixed(let value): json += "{\"fixed\":\(q(value))}"
        }
        json += ",\"rate_limit\":"
        if let limit = route.rateLimit {
            json += "{\"rate\":\(q(limit.rateText)),\"burst\":\(limit.burst),\"key\":"
            switch limit.key {
            case .clientAddress: json += "\"client_address\""
            case .header(let name): json += "{\"header\":\(q(name))}"
            }
            json += ",\"max_keys\":\(limit.maxKeys)}"
        } else {
            json += "null"
        }
        json += ",\"cache\":"
        if let cache = route.cache {
            json += "{\"stale_if_error\":\(d(cache.staleIfError)),\"stale_while_revalidate\":\(d(cache.staleWhileRevalidate))"
            json += ",\"coalesce_timeout\":\(d(cache.coalesceTimeout))}"
        } else {
            json += "null"
        }
        return json + "}"
    }

    private static func q(_ text: String) -> String { JSONText.quoted(text) }

    /// A duration as the file writes it, quoted.
    static func d(_ duration: Duration) -> String {
        q(ValueSyntax.format(duration))
    }
}
