import GatehouseErrors

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension ConfigLints {
    /// A listener certificate expiring within this many days is reported.
    public static let certificateWarningDays = 14

    /// Seconds since the UNIX epoch, for the certificate lints.
    public static func currentTime() -> Int { Int(time(nil)) }

    /// Lints of the TLS sections: certificate dates (the files were read at load) and verification off.
    static func tls(_ configuration: GatehouseConfiguration, _ locations: ConfigLocations, now: Int) -> [ConfigLint] {
        var lints: [ConfigLint] = []
        for (index, listener) in configuration.listeners.enumerated() {
            guard let tls = listener.tls else { continue }
            for (position, pair) in tls.certificates.enumerated() {
                let at = locations.nearest(["listeners", String(index), "tls", "certificates", String(position), "cert"])
                let subject = "certificate \(pair.certFile) (\(pair.names.joined(separator: ", ")))"
                if pair.notAfter < now {
                    lints.append(
                        ConfigLint(
                            .certificateExpiry, at: at,
                            "\(subject) of listener '\(listener.name)' expired on \(CivilDate.isoDate(epochSeconds: pair.notAfter)): clients refuse the handshake",
                            fix: "renew it and reload (gatehouse reads the files again on reload)"))
                } else if pair.notBefore > now {
                    lints.append(
                        ConfigLint(
                            .certificateExpiry, at: at,
                            "\(subject) of listener '\(listener.name)' is not valid before \(CivilDate.isoDate(epochSeconds: pair.notBefore)): clients refuse the handshake",
                            fix: "check this host's clock, or the certificate's dates"))
                } else if pair.notAfter - now < Self.certificateWarningDays * 86_400 {
                    let days = (pair.notAfter - now) / 86_400
                    lints.append(
                        ConfigLint(
                            .certificateExpiry, at: at,
                            "\(subject) of listener '\(listener.name)' expires in \(days) day\(days == 1 ? "" : "s") (\(CivilDate.isoDate(epochSeconds: pair.notAfter)))",
                            fix: "renew it now and check that its automatic renewal runs"))
                }
            }
        }
        for cluster in configuration.clusters {
            guard let tls = cluster.tls, !tls.verify else { continue }
            lints.append(
                ConfigLint(
                    .tlsVerifyOff, at: locations.nearest(["clusters", cluster.name, "tls", "verify"]),
                    "INSECURE: cluster '\(cluster.name)' accepts any certificate (tls.verify: false): anyone on the path can impersonate its servers, and an expired or wrong certificate goes unnoticed",
                    fix: "remove verify: false and trust the servers' CA with ca_file (or set server_name to the certificate's name)"))
        }
        return lints
    }
}
