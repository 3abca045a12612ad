extension Dashboard {
    /// Polls the JSON API every 2 s (not while the tab is hidden) and redraws. The DOM is built with
    /// `createElement` and `textContent` only: the API's strings (server names, error details) are
    /// never parsed as HTML, and nothing needs an inline style the CSP would refuse.
    ///
    /// Markers for tests and tools: `body[data-state]` is `live` once a poll has succeeded (`stale`
    /// after a failed one, `auth` while the token is asked for); each server row has the id
    /// `server-CLUSTER-ADDRESS` (non-alphanumerics as `_`) with `data-state`, `data-errors` (total)
    /// and `data-error-TYPE` per Proxy-Status type.
    static let script = #"""
        "use strict";
        (() => {
          const POLL_MS = 2000;
          const TOKEN_KEY = "gatehouse.admin.token";
          const COLOURS = ["#c0392b", "#1f5fa8", "#b9770e", "#6c3483", "#117a65", "#7b241c", "#2e4053", "#a04000", "#196f3d", "#5b2c6f"];
          const FIXED = { connection_refused: 0, connection_timeout: 1, http_response_timeout: 2, http_protocol_error: 3,
            connection_terminated: 4, http_response_incomplete: 5, destination_unavailable: 6, dns_error: 7,
            tls_certificate_error: 8, connection_limit_reached: 9 };
          const $ = (id) => document.getElementById(id);
          let timer = null, paused = false, asking = false, inFlight = false;
          let last = { upstreams: null, timeline: null };

          function h(tag, attrs, ...children) {
            const el = document.createElement(tag);
            for (const [k, v] of Object.entries(attrs || {})) {
              if (v === null || v === undefined || v === false) continue;
              if (k === "class") el.className = v;
              else if (k === "text") el.textContent = v;
              else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
              else el.setAttribute(k, v === true ? "" : String(v));
            }
            for (const c of children.flat(Infinity)) {
              if (c === null || c === undefined || c === false) continue;
              el.append(c instanceof Node ? c : document.createTextNode(String(c)));
            }
            return el;
          }
          // lab.js (loaded after this script, both deferred) builds its elements with the same helper.
          window.GatehouseDashboard = Object.freeze({ h });
          const colour = (type) => {
            if (type in FIXED) return COLOURS[FIXED[type]];
            let n = 0;
            for (const ch of type) n = (n * 31 + ch.charCodeAt(0)) >>> 0;
            return COLOURS[n % COLOURS.length];
          };
          const idPart = (s) => String(s).replace(/[^A-Za-z0-9_-]/g, "_");
          const time = (iso) => { const d = new Date(iso); return isNaN(d) ? String(iso || "") : d.toLocaleTimeString(); };
          const fmt = (n) => n >= 100 ? Math.round(n).toString() : n >= 10 ? n.toFixed(1) : n.toFixed(2);
          const badge = (state) => h("span", { class: "badge state-" + idPart(state), text: state });
          const sum = (a) => a.reduce((x, y) => x + y, 0);

          class AuthNeeded extends Error {}
          async function api(path, options) {
            const headers = {};
            const token = sessionStorage.getItem(TOKEN_KEY);
            if (token) headers["Authorization"] = "Bearer " + token;
            const response = await fetch(path, Object.assign({ headers, cache: "no-store" }, options || {}));
            if (response.status === 401) throw new AuthNeeded(token ? "the token was refused" : "");
            const body = await response.json().catch(() => ({}));
            if (!response.ok) throw new Error(body.error || ("HTTP " + response.status));
            return body;
          }

          function askToken(why) {
            if (asking) return;
            asking = true;
            document.body.dataset.state = "auth";
            setStatus("waiting for the admin token");
            if (why) $("login-why").textContent = "The token was refused; enter it again.";
            const dialog = $("login");
            if (!dialog.open) dialog.showModal();
            $("login-token").focus();
          }
          $("login-form").addEventListener("submit", (event) => {
            event.preventDefault();
            const value = $("login-token").value.trim();
            if (!value) return;
            sessionStorage.setItem(TOKEN_KEY, value);
            $("login").close();
            asking = false;
            poll();
          });

          function setStatus(text) { $("status").textContent = text; }

          async function poll() {
            if (timer) { clearTimeout(timer); timer = null; }
            if (paused || document.hidden || asking || inFlight) return;
            inFlight = true;
            try {
              const [upstreams, timeline, incidents, errors] = await Promise.all([
                api("admin/upstreams"), api("admin/timeline"), api("admin/incidents"), api("admin/errors?limit=25")]);
              last = { upstreams, timeline };
              render(upstreams, timeline, incidents, errors);
              document.body.dataset.state = "live";
              setStatus("live · updated " + new Date().toLocaleTimeString() + " · every " + POLL_MS / 1000 + " s");
            } catch (error) {
              if (error instanceof AuthNeeded) { inFlight = false; askToken(error.message); return; }
              document.body.dataset.state = "stale";
              setStatus("cannot reach the admin API (" + error.message + "); retrying");
            }
            inFlight = false;
            schedule();
          }
          function schedule() {
            if (timer) clearTimeout(timer);
            timer = (paused || document.hidden) ? null : setTimeout(poll, POLL_MS);
          }
          document.addEventListener("visibilitychange", () => { if (!document.hidden) poll(); });
          $("pause").addEventListener("click", () => {
            paused = !paused;
            $("pause").textContent = paused ? "Resume" : "Pause";
            $("pause").setAttribute("aria-pressed", String(paused));
            if (paused) { setStatus("paused"); schedule(); } else poll();
          });
          window.addEventListener("resize", () => { if (last.timeline) drawAllCharts(last.timeline); });

          // Redrawing replaces the buttons: keep the keyboard focus on the same one.
          function render(upstreams, timeline, incidents, errors) {
            const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.focus : null;
            renderIncidents(incidents.incidents || []);
            renderClusters(upstreams.clusters || [], timeline);
            renderErrors(errors.errors || []);
            if (focused) {
              const again = document.querySelector('[data-focus="' + CSS.escape(focused) + '"]');
              if (again) again.focus();
            }
          }

          function renderIncidents(list) {
            const open = list.filter((i) => i.open);
            const box = $("incidents");
            box.replaceChildren();
            if (open.length === 0) { box.append(h("p", { class: "muted", text: "none" })); return; }
            for (const i of open) {
              const types = Object.entries(i.errors_by_type || {}).map(([t, n]) => t + " ×" + n).join(", ");
              box.append(h("div", { class: "card incident", id: "incident-" + idPart(i.id), "data-cluster": i.cluster },
                h("h3", { text: "Cluster " + i.cluster + " since " + time(i.start) }),
                h("p", {}, (i.cause_summary || i.cause || "gateway errors") + " — " + i.errors + " errors of " + i.requests +
                  " requests (peak " + Math.round((i.peak_ratio || 0) * 100) + " %)"),
                types ? h("p", { class: "why", text: types }) : null,
                (i.servers || []).length ? h("p", { class: "why", text: "servers: " + i.servers.map((s) => s.server + " ×" + s.errors).join(", ") }) : null,
                i.hint ? h("p", { text: i.hint }) : null));
            }
          }

          function renderClusters(clusters, timeline) {
            const byName = {};
            for (const c of timeline.clusters || []) byName[c.name] = c;
            const box = $("clusters");
            box.replaceChildren();
            for (const c of clusters) {
              const t = byName[c.name];
              const card = h("article", { class: "card", id: "cluster-" + idPart(c.name), "data-cluster": c.name,
                  "data-requests": t ? t.totals.requests : 0, "data-errors": t ? t.totals.errors : 0 },
                h("div", { class: "card-head" },
                  h("h3", { text: c.name }),
                  h("span", { class: "muted", text: c.healthy + " of " + c.total + " taking traffic · " + c.balance }),
                  c.panic ? h("span", { class: "badge state-unhealthy", text: "panic mode" }) : null),
                t ? charts(c.name, t) : null,
                serversTable(c));
              box.append(card);
            }
            drawAllCharts(timeline);
          }

          function charts(name, t) {
            const types = Object.keys(t.errors_by_type);
            const legend = h("ul", { class: "legend", "aria-label": "gateway errors by Proxy-Status type, last 15 minutes" },
              types.length === 0 ? h("li", { class: "muted", text: "no gateway errors in the last 15 minutes" }) : null,
              types.map((type) => {
                const sw = h("span", { class: "swatch", "aria-hidden": "true" });
                sw.style.background = colour(type);
                return h("li", { "data-type": type }, sw, h("code", { text: type }), " ", String(t.totals.errors_by_type[type]));
              }));
            return h("div", { class: "charts" },
              h("div", {},
                h("div", { class: "chart-title" }, h("span", { text: "requests / s, last 15 min" }),
                  h("strong", { id: "rate-" + idPart(name) })),
                h("canvas", { id: "req-" + idPart(name), role: "img",
                  "aria-label": "requests per second of cluster " + name + ": " + t.totals.requests + " requests in 15 minutes" })),
              h("div", {},
                h("div", { class: "chart-title" }, h("span", { text: "gateway errors / s by Proxy-Status type" }),
                  h("strong", { id: "erate-" + idPart(name) })),
                h("canvas", { id: "err-" + idPart(name), role: "img",
                  "aria-label": "gateway errors per second of cluster " + name + ": " + t.totals.errors + " in 15 minutes" }),
                legend));
          }

          // Seconds each bucket covers: the last one is under way.
          function spans(timeline) {
            const n = timeline.buckets, width = timeline.bucket_seconds;
            const lastStart = timeline.start_ms + (n - 1) * width * 1000;
            const partial = Math.max(1, (timeline.now_ms - lastStart) / 1000);
            return Array.from({ length: n }, (_, i) => i === n - 1 ? Math.min(partial, width) : width);
          }

          function drawAllCharts(timeline) {
            const sec = spans(timeline);
            for (const t of timeline.clusters || []) {
              const id = idPart(t.name);
              const rates = t.requests.map((v, i) => v / sec[i]);
              const req = $("req-" + id), err = $("err-" + id);
              if (req) draw(req, [{ colour: "#1f5fa8", values: rates }], false);
              const series = Object.entries(t.errors_by_type).map(([type, values]) => ({ colour: colour(type), values: values.map((v, i) => v / sec[i]) }));
              if (err) draw(err, series, true);
              const recent = (a) => sum(a.slice(-6)) / sum(sec.slice(-6));
              const rate = $("rate-" + id), erate = $("erate-" + id);
              if (rate) rate.textContent = fmt(recent(t.requests)) + " /s (last 30 s)";
              if (erate) erate.textContent = fmt(recent(t.errors)) + " /s (last 30 s)";
            }
          }

          // A line (requests) or stacked bars (errors by type) over the 180 buckets; y from 0 to the max.
          function draw(canvas, series, stacked) {
            const ratio = window.devicePixelRatio || 1;
            const w = canvas.clientWidth || 300, hgt = canvas.clientHeight || 100;
            canvas.width = Math.round(w * ratio); canvas.height = Math.round(hgt * ratio);
            const g = canvas.getContext("2d");
            if (!g) return;
            g.scale(ratio, ratio);
            g.clearRect(0, 0, w, hgt);
            const left = 36, bottom = 16, top = 6, plotW = w - left - 4, plotH = hgt - top - bottom;
            const n = series.length ? series[0].values.length : 180;
            const totals = Array.from({ length: n }, (_, i) => stacked ? sum(series.map((s) => s.values[i])) : Math.max(0, ...series.map((s) => s.values[i])));
            const max = Math.max(...totals, 0);
            const top_ = max > 0 ? niceMax(max) : 1;
            g.font = "11px system-ui, sans-serif"; g.fillStyle = "#4d5560"; g.strokeStyle = "#d5d9df"; g.lineWidth = 1;
            for (const f of [0, 0.5, 1]) {
              const y = top + plotH - f * plotH + 0.5;
              g.beginPath(); g.moveTo(left, y); g.lineTo(left + plotW, y); g.stroke();
              g.textAlign = "right"; g.textBaseline = "middle"; g.fillText(fmt(top_ * f), left - 4, y);
            }
            g.textAlign = "center"; g.textBaseline = "top";
            for (const [frac, label] of [[0, "−15 min"], [1 / 3, "−10"], [2 / 3, "−5"], [1, "now"]]) {
              const x = left + frac * plotW;
              g.textAlign = frac === 0 ? "left" : frac === 1 ? "right" : "center";
              g.fillText(label, x, top + plotH + 3);
            }
            const step = plotW / n, y = (v) => top + plotH - (v / top_) * plotH;
            if (stacked) {
              const base = new Array(n).fill(0);
              for (const s of series) {
                g.fillStyle = s.colour;
                for (let i = 0; i < n; i++) {
                  const v = s.values[i];
                  if (v <= 0) continue;
                  const y0 = y(base[i]), y1 = y(base[i] + v);
                  g.fillRect(left + i * step, y1, Math.max(1, step - 0.5), Math.max(1, y0 - y1));
                  base[i] += v;
                }
              }
            } else {
              for (const s of series) {
                g.beginPath();
                s.values.forEach((v, i) => { const x = left + (i + 0.5) * step; i ? g.lineTo(x, y(v)) : g.moveTo(x, y(v)); });
                g.strokeStyle = s.colour; g.lineWidth = 2; g.stroke();
                g.lineTo(left + plotW, top + plotH); g.lineTo(left, top + plotH); g.closePath();
                g.globalAlpha = 0.12; g.fillStyle = s.colour; g.fill(); g.globalAlpha = 1;
              }
            }
          }
          function niceMax(v) {
            const p = Math.pow(10, Math.floor(Math.log10(v)));
            for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
            return 10 * p;
          }

          function serversTable(c) {
            const rows = (c.servers || []).map((s) => {
              const total = sum(Object.values(s.errors || {}));
              const attrs = { id: "server-" + idPart(c.name) + "-" + idPart(s.address), class: "server", "data-cluster": c.name,
                "data-server": s.server, "data-address": s.address, "data-state": s.state, "data-errors": total };
              for (const [type, n] of Object.entries(s.errors || {})) attrs["data-error-" + type.replace(/[^a-z0-9_-]/g, "_")] = n;
              const drained = s.state === "drained" || s.state === "draining";
              return h("tr", attrs,
                h("td", {}, h("button", { type: "button", class: "link", text: s.address, "aria-haspopup": "dialog",
                  "data-focus": "detail " + c.name + " " + s.address,
                  onclick: () => openDetail(c.name, s.address) }),
                  s.server !== s.address ? h("div", { class: "why", text: s.server }) : null),
                h("td", {}, badge(s.state), h("div", { class: "why", text: s.why || "" }),
                  s.since ? h("div", { class: "why", text: "since " + time(s.since) }) : null),
                h("td", { class: "num", text: String(s.requests) }),
                h("td", {}, total === 0 ? h("span", { class: "muted", text: "0" }) :
                  h("div", { class: "errcounts" }, Object.entries(s.errors).map(([t, n]) => h("span", { class: "badge type", text: t + " " + n })))),
                h("td", {}, h("button", { type: "button", class: drained ? "" : "danger",
                  text: drained ? "Enable" : "Drain", "aria-label": (drained ? "Enable " : "Drain ") + s.address + " in " + c.name,
                  "data-focus": "drain " + c.name + " " + s.address,
                  onclick: () => setDrained(c.name, s.server, !drained) })));
            });
            return h("div", { class: "scroll" }, h("table", {},
              h("thead", {}, h("tr", {}, ["Server", "State / why", "Requests", "Errors by type", ""].map((t) => h("th", { text: t })))),
              h("tbody", {}, rows)));
          }

          async function setDrained(cluster, server, drain) {
            const path = "admin/upstreams/" + encodeURIComponent(cluster) + "/" + encodeURIComponent(server) + "/" + (drain ? "drain" : "enable");
            try {
              const answer = await api(path, { method: "POST" });
              setStatus(answer.server + " in " + answer.cluster + ": " + answer.state);
            } catch (error) {
              if (error instanceof AuthNeeded) { askToken(error.message); return; }
              setStatus((drain ? "drain" : "enable") + " failed: " + error.message);
            }
            poll();
          }

          async function openDetail(cluster, address) {
            const dialog = $("detail"), body = $("detail-body");
            $("detail-title").textContent = address + " in " + cluster;
            body.replaceChildren(h("p", { class: "muted", text: "loading…" }));
            if (!dialog.open) dialog.showModal();
            const c = (last.upstreams && last.upstreams.clusters || []).find((x) => x.name === cluster);
            const s = c && c.servers.find((x) => x.address === address);
            let errors = [];
            try {
              errors = (await api("admin/errors?cluster=" + encodeURIComponent(cluster) + "&server=" + encodeURIComponent(address) + "&limit=20")).errors || [];
            } catch (error) {
              if (error instanceof AuthNeeded) { dialog.close(); askToken(error.message); return; }
              body.replaceChildren(h("p", { text: "cannot load this server's errors: " + error.message }));
              return;
            }
            const facts = [];
            if (s) {
              const hc = s.health_check;
              facts.push(["State", s.state + (s.why ? " — " + s.why : "")], ["Since", s.since ? time(s.since) : "—"],
                ["Requests", s.requests], ["In flight", s.active_requests], ["Failures in a row", s.consecutive_failures],
                ["Ejections", s.ejections + (s.ejected_for_seconds != null ? " (ejected for " + fmt(s.ejected_for_seconds) + " s more)" : "") + (s.probation ? ", on probation" : "")],
                ["Weight", s.weight + " (effective " + s.effective_weight + ")" + (s.slow_start_progress != null ? ", slow start " + Math.round(s.slow_start_progress * 100) + " %" : "")],
                ["Last health check", hc ? ((hc.last ? time(hc.last) : "not yet") + (hc.last_error ? " — failed: " + hc.last_error : " — passed") +
                  " (" + hc.passes_in_a_row + " passes, " + hc.failures_in_a_row + " failures in a row)") : "no health check configured"]);
            }
            const timed = (key) => errors.map((e) => e[key]).filter((v) => typeof v === "number");
            const stat = (key) => { const v = timed(key).sort((a, b) => a - b); return v.length ? "median " + fmt(v[Math.floor(v.length / 2)]) + " ms, max " + fmt(v[v.length - 1]) + " ms" : "—"; };
            facts.push(["Connect (failed requests)", stat("connect_ms")], ["Response header", stat("header_ms")], ["Total", stat("total_ms")]);
            body.replaceChildren(
              h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", { text: k }), h("dd", { text: String(v) })])),
              h("h3", { text: "Recent errors (" + errors.length + ")" }),
              errors.length === 0 ? h("p", { class: "muted", text: "none in the history" }) : errorTable(errors, false));
          }
          $("detail-close").addEventListener("click", () => $("detail").close());

          function errorTable(list, withServer) {
            return h("div", { class: "scroll" }, h("table", {},
              h("thead", {}, h("tr", {}, ["Time", "Request id", "Route", withServer ? "Server" : "Timings", "Type", "Cause", "Fix"].map((t) => h("th", { text: t })))),
              h("tbody", {}, list.map((e) => errorRow(e, withServer)))));
          }
          function errorRow(e, withServer) {
            return h("tr", { "data-type": e.proxy_status },
              h("td", { text: time(e.time) }),
              h("td", {}, h("code", { text: e.request_id })),
              h("td", { text: (e.route || "—") + (e.cluster ? " → " + e.cluster : "") }),
              withServer ? h("td", { text: e.server || "—" }) :
                h("td", { text: [["connect", e.connect_ms], ["header", e.header_ms], ["total", e.total_ms]].filter(([, v]) => v != null).map(([k, v]) => k + " " + fmt(v) + " ms").join(", ") || "—" }),
              h("td", {}, h("span", { class: "badge type", text: e.proxy_status }), h("div", { class: "why", text: String(e.status) })),
              h("td", {}, e.cause, e.details ? h("div", { class: "why", text: e.details }) : null),
              h("td", { text: e.fix }));
          }
          function renderErrors(list) {
            const tbody = $("errors").querySelector("tbody");
            tbody.replaceChildren(...list.map((e) => errorRow(e, true)));
            if (list.length === 0) tbody.append(h("tr", {}, h("td", { colspan: 7, class: "muted", text: "no gateway errors yet" })));
          }

          poll();
        })();

        """#
}
