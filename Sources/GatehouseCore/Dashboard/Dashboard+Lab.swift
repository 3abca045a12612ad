extension Dashboard {
    /// The Lab tab: lists the scenarios (`GET /admin/lab`), starts one, offers the moves as buttons
    /// and shows each move's real output, the verdict and the end screen. Shown when the URL's
    /// fragment starts with `#lab`; `#lab:SCENARIO` starts that scenario, `#lab:SCENARIO:1,6.1,9`
    /// also plays those moves (what the browser test does). Text only through `textContent`.
    ///
    /// Markers for tests: `#lab[data-state]` is `idle`, `starting`, `playing`, `won` or `gave_up`
    /// (`unavailable` when this gateway has no lab); each scenario is `li[data-scenario=ID]`.
    static let labScript = #"""
        "use strict";
        (() => {
          const TOKEN_KEY = "gatehouse.admin.token";
          const $ = (id) => document.getElementById(id);
          let busy = false, state = null, editing = false;

          const { h } = window.GatehouseDashboard;

          async function api(method, path) {
            const headers = {};
            const token = sessionStorage.getItem(TOKEN_KEY);
            if (token) headers["Authorization"] = "Bearer " + token;
            const response = await fetch(path, { method, headers, cache: "no-store" });
            const body = await response.json().catch(() => ({}));
            if (!response.ok) throw new Error(body.error || ("HTTP " + response.status));
            return body;
          }

          function showTab() {
            const lab = location.hash.startsWith("#lab");
            $("lab").hidden = !lab;
            $("overview").hidden = lab;
            $("tab-lab").toggleAttribute("aria-current", lab);
            if (lab) $("tab-lab").setAttribute("aria-current", "page");
            $("tab-overview").toggleAttribute("aria-current", !lab);
            if (!lab) $("tab-overview").setAttribute("aria-current", "page");
          }

          function setStatus(text) { $("lab-status").textContent = text; }

          async function run(method, path, note) {
            if (busy) return null;
            busy = true;
            setStatus(note);
            document.querySelectorAll("#lab button").forEach((b) => { b.disabled = true; });
            try {
              state = await api(method, path);
              setStatus("");
              render();
              return state;
            } catch (error) {
              setStatus("Lab: " + error.message);
              if (!state) $("lab").dataset.state = "unavailable";
              document.querySelectorAll("#lab button").forEach((b) => { b.disabled = false; });
              return null;
            } finally {
              busy = false;
            }
          }

          const start = (id) => { $("lab").dataset.state = "starting"; return run("POST", "admin/lab/start/" + encodeURIComponent(id), "starting " + id + "…"); };
          const play = (notation, title) => { editing = false; return run("POST", "admin/lab/move/" + encodeURIComponent(notation), "running: " + title + "…"); };

          function render() {
            const list = $("lab-scenarios");
            list.replaceChildren(...(state.scenarios || []).map((s) =>
              h("li", { "data-scenario": s.id },
                h("button", { type: "button", onclick: () => start(s.id) }, s.title),
                " ", h("code", { text: s.id }))));
            const game = state.game;
            $("lab").dataset.state = game ? game.status : "idle";
            $("lab-game").hidden = !game;
            if (!game) return;
            $("lab-game-title").textContent = game.scenario.title + " — " + game.minutes + " min so far";
            $("lab-opening").textContent = game.opening;
            $("lab-steps").replaceChildren(...game.steps.map((step) =>
              h("div", { class: "lab-step", "data-move": step.move },
                h("h3", { text: "Move " + step.number + ": " + step.title + " (+" + step.minutes + " min, " + step.total_minutes + " min so far)" }),
                step.output ? h("pre", { class: "lab-out", text: step.output }) : null,
                step.verdict ? h("p", { class: "lab-verdict", text: "» " + step.verdict }) : null)));
            const moves = $("lab-moves");
            if (game.status !== "playing") {
              moves.replaceChildren(h("button", { type: "button", onclick: () => start(game.scenario.id) }, "Play again"),
                h("button", { type: "button", onclick: () => run("POST", "admin/lab/stop", "stopping…") }, "Stop"));
            } else if (editing) {
              moves.replaceChildren(h("h3", { text: "Which setting do you change?" }),
                ...game.edits.map((label, i) => h("button", { type: "button", "data-move": "6." + (i + 1), onclick: () => play("6." + (i + 1), label) }, (i + 1) + ". " + label)),
                h("button", { type: "button", onclick: () => { editing = false; render(); } }, "Back"));
            } else {
              moves.replaceChildren(h("h3", { text: "What do you do?" }),
                ...state.menu.map((m) => h("button", { type: "button", "data-move": String(m.number),
                  onclick: () => { if (m.number === 6) { editing = true; render(); } else { play(String(m.number), m.title); } } },
                  m.number + ". " + m.title)));
            }
            $("lab-end").hidden = !game.end;
            $("lab-end").textContent = game.end || "";
          }

          async function fromHash() {
            showTab();
            if (!location.hash.startsWith("#lab")) return;
            if (!state) await run("GET", "admin/lab", "loading the scenarios…");
            const [, id, moves] = decodeURIComponent(location.hash).split(":");
            if (!id || !state || (state.game && state.game.scenario.id === id)) return;
            if (!(await start(id))) return;
            for (const move of (moves || "").split(",").filter(Boolean)) {
              if (!state.game || state.game.status !== "playing") break;
              if (!(await play(move, "move " + move))) break;
            }
          }

          window.addEventListener("hashchange", fromHash);
          fromHash();
        })();

        """#
}
