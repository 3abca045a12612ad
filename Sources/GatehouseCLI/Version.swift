/// The release this build is, shown by `gatehouse --version` and in `Via`-free places such as the
/// admin API. Bumped with each release.
enum GatehouseVersion {
    static let string = "0.3.0"
}
