extension Dashboard {
    /// Dark text on a light background; every colour pair used for text meets WCAG AA (4.5:1).
    /// One column on a phone, cluster cards side by side on a laptop; wide tables scroll sideways.
    static let style = #"""
        :root {
          --bg: #f6f7f9; --card: #ffffff; --text: #1a1d21; --muted: #4d5560; --line: #d5d9df;
          --ok: #1d6b2f; --ok-bg: #e3f3e6; --bad: #a3161b; --bad-bg: #fde7e7; --warn: #7a4a00; --warn-bg: #fff1d6;
          --info: #1f4e8c; --info-bg: #e4edf9; --focus: #1f4e8c;
          font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 15px; line-height: 1.4;
        }
        * { box-sizing: border-box; }
        [hidden] { display: none !important; }
        body { margin: 0; background: var(--bg); color: var(--text); }
        h1 { font-size: 1.3rem; margin: 0; }
        h2 { font-size: 1.1rem; margin: 0 0 .5rem; }
        h3 { font-size: 1rem; margin: 0; }
        code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .9em; }
        .top { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1rem; padding: .6rem 1rem;
          background: var(--card); border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 1; }
        .top p { margin: 0; color: var(--muted); flex: 1 1 12rem; }
        main { padding: 1rem; max-width: 110rem; margin: 0 auto; display: grid; gap: 1.25rem; }
        main > section { min-width: 0; }
        button { font: inherit; padding: .3rem .7rem; border: 1px solid #6b7480; border-radius: 4px; background: var(--card);
          color: var(--text); cursor: pointer; }
        button:hover { background: #eef0f3; }
        button:focus-visible, input:focus-visible { outline: 3px solid var(--focus); outline-offset: 1px; }
        button.link { border: 0; padding: 0; background: none; color: var(--info); text-decoration: underline; text-align: left; }
        button.danger { border-color: var(--bad); color: var(--bad); }
        .muted { color: var(--muted); }
        .clusters { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(min(100%, 30rem), 1fr)); }
        .card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .8rem; min-width: 0; }
        .card-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: .25rem .75rem; margin-bottom: .5rem; }
        .charts { display: grid; gap: .75rem; grid-template-columns: 1fr; }
        .chart-title { display: flex; justify-content: space-between; gap: .5rem; font-size: .9rem; color: var(--muted); }
        .chart-title strong { color: var(--text); }
        canvas { display: block; width: 100%; height: 110px; }
        .legend { display: flex; flex-wrap: wrap; gap: .2rem .8rem; list-style: none; margin: .25rem 0 0; padding: 0; font-size: .85rem; }
        .swatch { display: inline-block; width: .8rem; height: .8rem; border-radius: 2px; margin-right: .3rem; vertical-align: -1px; }
        .scroll { overflow-x: auto; }
        table { border-collapse: collapse; width: 100%; font-size: .9rem; }
        th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { color: var(--muted); font-weight: 600; white-space: nowrap; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; }
        .badge { display: inline-block; padding: .05rem .45rem; border-radius: 999px; font-size: .8rem; font-weight: 600; white-space: nowrap; }
        .state-healthy, .state-enabled { color: var(--ok); background: var(--ok-bg); }
        .state-unhealthy, .state-ejected { color: var(--bad); background: var(--bad-bg); }
        .state-draining, .state-drained, .state-unchecked { color: var(--warn); background: var(--warn-bg); }
        .type { color: var(--bad); background: var(--bad-bg); }
        .incident { border-left: 4px solid var(--bad); }
        .incident p { margin: .25rem 0; }
        .why { color: var(--muted); font-size: .85rem; }
        .errcounts { display: flex; flex-wrap: wrap; gap: .2rem; }
        dialog { border: 1px solid var(--line); border-radius: 6px; padding: 1rem; width: min(56rem, 96vw); max-height: 90vh;
          color: var(--text); background: var(--card); }
        dialog::backdrop { background: rgba(20, 24, 30, .45); }
        .dialog-head { display: flex; justify-content: space-between; align-items: center; gap: 1rem; }
        dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: .5rem 0 1rem; }
        dl.facts dt { color: var(--muted); }
        dl.facts dd { margin: 0; }
        #login-form { display: grid; gap: .5rem; }
        .tabs { display: flex; gap: .75rem; }
        .tabs a { color: var(--info); padding: .1rem .2rem; }
        .tabs a[aria-current="page"] { color: var(--text); font-weight: 600; text-decoration: none; border-bottom: 2px solid var(--text); }
        .lab-scenarios { list-style: none; padding: 0; margin: .5rem 0; display: grid; gap: .4rem;
          grid-template-columns: repeat(auto-fit, minmax(min(100%, 22rem), 1fr)); }
        .lab-out { background: #1a1d21; color: #f1f3f5; padding: .6rem; border-radius: 4px; overflow-x: auto;
          white-space: pre-wrap; word-break: break-word; font-size: .85rem; margin: .4rem 0; }
        .lab-step h3 { margin-top: .8rem; }
        .lab-verdict { font-weight: 600; margin: .2rem 0 .6rem; }
        .lab-moves { display: flex; flex-wrap: wrap; gap: .4rem; margin: .6rem 0; }
        .lab-moves h3 { flex-basis: 100%; }
        input { font: inherit; padding: .35rem; border: 1px solid #6b7480; border-radius: 4px; }
        @media (max-width: 40rem) {
          :root { font-size: 14px; }
          main { padding: .5rem; }
          .card { padding: .6rem; }
          canvas { height: 90px; }
          th, td { padding: .3rem .35rem; }
          .hide-narrow { display: none; }
        }

        """#
}
