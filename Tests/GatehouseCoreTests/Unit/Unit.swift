/// The pure unit tests of GatehouseCore (no sockets, no clock): `swift test --filter Unit`.
enum Unit {}
