import GatehouseOrigins

// The PKI and the TLS origin are shared with the gateway's TLS tests and `gatehouse lab` (GatehouseOrigins).
typealias TestCertificates = TestPKI
typealias TLSTestServer = TLSOrigin
