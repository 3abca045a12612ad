/// Gateway errors and incidents kept in SQLite so they outlive a restart, and their delivery to
/// webhooks (issue #7).
enum IncidentStore {}
