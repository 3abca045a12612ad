/// The dashboard the admin listener serves at `/`: one HTML page, its style sheet and its script,
/// embedded in the binary as string literals (the release binary is shipped alone, without a
/// resources bundle), written by hand: no CDN, no build step, nothing fetched from elsewhere.
///
/// The page holds no data: its script polls the JSON API (`/admin/upstreams`, `/admin/timeline`,
/// `/admin/incidents`, `/admin/errors`), which checks the token, so the files themselves are
/// served without one. URLs in the page are relative, so it also works behind a path prefix.
enum Dashboard {
    /// One embedded file.
    struct Asset {
        var body: String
        var contentType: String
    }

    /// The file for a `GET` of these path segments, nil when the path is not one of the dashboard's.
    static func asset(_ segments: [String]) -> Asset? {
        switch segments {
        case []: Asset(body: Self.page, contentType: "text/html; charset=utf-8")
        case ["dashboard.js"]: Asset(body: Self.script, contentType: "text/javascript; charset=utf-8")
        case ["dashboard.css"]: Asset(body: Self.style, contentType: "text/css; charset=utf-8")
        case ["lab.js"]: Asset(body: Self.labScript, contentType: "text/javascript; charset=utf-8")
        default: nil
        }
    }

    /// The page may run its own script and style and talk to this listener only.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    static let page = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Gatehouse dashboard</title>
        <link rel="icon" href="data:,">
        <link rel="stylesheet" href="dashboard.css">
        <script src="dashboard.js" defer></script>
        <script src="lab.js" defer></script>
        </head>
        <body data-state="loading">
        <header class="top">
          <h1>Gatehouse</h1>
          <nav class="tabs" aria-label="Views"><a href="#" id="tab-overview" aria-current="page">Overview</a><a href="#lab" id="tab-lab">Lab</a></nav>
          <p id="status" role="status" aria-live="polite">loading…</p>
          <button type="button" id="pause" aria-pressed="false">Pause</button>
        </header>
        <main id="overview">
          <section aria-labelledby="incidents-title">
            <h2 id="incidents-title">Open incidents</h2>
            <div id="incidents"><p class="muted">none</p></div>
          </section>
          <section aria-labelledby="clusters-title">
            <h2 id="clusters-title">Clusters</h2>
            <div id="clusters" class="clusters"></div>
          </section>
          <section aria-labelledby="errors-title">
            <h2 id="errors-title">Latest gateway errors</h2>
            <div class="scroll">
              <table id="errors">
                <thead><tr><th>Time</th><th>Request id</th><th>Route</th><th>Server</th><th>Type</th><th>Cause</th><th>Fix</th></tr></thead>
                <tbody></tbody>
              </table>
            </div>
          </section>
        </main>
        <main id="lab" hidden data-state="idle">
          <section aria-labelledby="lab-title">
            <h2 id="lab-title">Lab: the troubleshooting maze, with real tools</h2>
            <p class="muted">Each scenario starts a real gateway with one fault planted, in front of real upstreams on loopback.
              Find the cause with the real tools and fix it; wrong moves cost time. The same game as <code>gatehouse lab</code>.</p>
            <ul id="lab-scenarios" class="lab-scenarios"></ul>
            <p id="lab-status" class="muted" role="status" aria-live="polite"></p>
          </section>
          <section id="lab-game" hidden aria-labelledby="lab-game-title">
            <h2 id="lab-game-title">Game</h2>
            <pre id="lab-opening" class="lab-out"></pre>
            <div id="lab-steps"></div>
            <div id="lab-moves" class="lab-moves"></div>
            <pre id="lab-end" class="lab-out" hidden></pre>
          </section>
        </main>
        <dialog id="detail" aria-labelledby="detail-title">
          <div class="dialog-head"><h2 id="detail-title">Server</h2><button type="button" id="detail-close">Close</button></div>
          <div id="detail-body"></div>
        </dialog>
        <dialog id="login" aria-labelledby="login-title">
          <form id="login-form" method="dialog">
            <h2 id="login-title">Admin token</h2>
            <p id="login-why">This gateway's admin API needs the token from <code>admin.token_file</code>. It is kept for this tab only.</p>
            <label for="login-token">Token</label>
            <input id="login-token" type="password" autocomplete="off" required>
            <button type="submit">Use token</button>
          </form>
        </dialog>
        </body>
        </html>

        """#
}
