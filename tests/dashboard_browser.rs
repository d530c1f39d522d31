//! The dashboard in a real headless Chromium (Debian `chromium` +
//! `chromium-driver`, driven over WebDriver): the demo kernel runs with a
//! failure rate that crosses the thresholds; the alert card appears with the
//! right severity; acknowledging changes its state and survives a reload;
//! investigate filters the timeline; hostile markup in an event is shown as
//! text and runs nothing; 5 s after the demo starts both charts already
//! draw series in every range; a run opens as a waterfall (from its link,
//! a chart point and the timeline) with failures, tokens, cost and the trace
//! link. Screenshots land in `target/screenshots/`.

#[path = "support/browser.rs"]
mod browser;
#[path = "support/demo.rs"]
mod demo;
#[path = "support/http.rs"]
mod http;
#[path = "support/otlp_receiver.rs"]
mod otlp_receiver;
#[path = "support/prometheus.rs"]
mod prometheus;
#[path = "support/workflow.rs"]
mod workflow;

use std::time::{Duration, Instant};

use browser::Browser;
use demo::Demo;

const HOSTILE: &str = r#"<script>window.pwned=1</script><img src=x onerror="window.pwned=2">"#;
const WAIT: Duration = Duration::from_secs(40);

fn screenshot_path(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
#[ignore = "needs chromium and chromedriver; run via the README test command"]
fn alerts_fire_get_acknowledged_and_investigated_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    // The operator note is emitted once, at the start: a store large enough
    // to keep it for the whole test, however slow the machine (the default
    // 10,000 records last about 33 s at this rate).
    let config = dir.path().join("kernel.toml");
    std::fs::write(&config, "[store]\nmax_records = 1000000\n").unwrap();
    let demo = Demo::start(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--workflows",
            "6",
            "--rate",
            "300",
            "--duration",
            "0",
            "--failure-rate",
            "0.6",
            "--seed",
            "3",
            "--note",
            HOSTILE,
        ],
        &[],
    );
    let browser = Browser::start().unwrap();
    let page = format!("http://{}/monitoring", demo.addr);
    browser.goto(&page).unwrap();
    browser
        .wait_until("document.body.dataset.ready === 'true'", WAIT)
        .unwrap();

    // The success-rate alert fires as critical (failure rate 0.6 → success rate ≈ 0.4).
    let critical = r#"document.querySelector('.alert[data-alert-id="success-rate"][data-state="firing"][data-severity="critical"]')"#;
    browser
        .wait_until(&format!("{critical} !== null"), WAIT)
        .unwrap_or_else(|e| panic!("{e}\n{}", browser.logs()));
    let (_, alerts) = prometheus::http_get(demo.addr, "/api/monitoring/alerts", &[]).unwrap();
    assert!(
        alerts.contains(r#""id":"success-rate""#) && alerts.contains(r#""severity":"critical""#),
        "{alerts}"
    );

    // Acknowledge from the page (in one script: the live panel re-renders
    // often, so element handles go stale); the state shows, and survives a reload.
    let clicked = browser
        .execute(
            r#"const a = document.querySelector('.alert[data-alert-id="success-rate"]');
               const by = a.querySelector('.ack-by');
               by.value = 'chromium-tester';
               by.dispatchEvent(new Event('input', { bubbles: true }));
               a.querySelector('.ack-button').click();
               return true;"#,
            vec![],
        )
        .unwrap();
    assert_eq!(clicked, true);
    let acknowledged =
        r#"document.querySelector('.alert[data-alert-id="success-rate"]')?.dataset.acknowledged === 'true'"#;
    browser.wait_until(acknowledged, WAIT).unwrap();
    browser.refresh().unwrap();
    browser
        .wait_until("document.body.dataset.ready === 'true'", WAIT)
        .unwrap();
    browser.wait_until(acknowledged, WAIT).unwrap();
    let ack_text = browser
        .execute(
            r#"return document.querySelector('.alert[data-alert-id="success-rate"] .alert-ack').textContent;"#,
            vec![],
        )
        .unwrap();
    assert!(
        ack_text.as_str().unwrap_or("").contains("chromium-tester"),
        "{ack_text}"
    );

    // Investigate filters the timeline to the alert's correlation id (or workflow).
    browser
        .execute(
            r#"document.querySelector('.alert[data-alert-id="success-rate"] .investigate-button').click(); return true;"#,
            vec![],
        )
        .unwrap();
    let filtered = r#"(() => {
        const corr = document.querySelector('#correlation-search').value;
        const wf = document.querySelector('#workflow-filter').value;
        const items = [...document.querySelectorAll('#timeline-list li.event')];
        if (!items.length || (!corr && !wf)) return false;
        return items.every(li => corr ? li.dataset.correlationId === corr : li.dataset.workflowId === wf);
    })()"#;
    browser.wait_until(filtered, WAIT).unwrap();
    browser
        .screenshot_png(screenshot_path("dashboard-investigate.png"))
        .unwrap();

    // The hostile note is text, and nothing ran.
    browser.find("#clear-filters").unwrap().click().unwrap();
    let search = browser.find("#correlation-search").unwrap();
    search.clear().unwrap();
    search.send_keys("operator-note").unwrap();
    browser.find("#correlation-search-button").unwrap().click().unwrap();
    let note_shown = r#"[...document.querySelectorAll('#timeline-list li.event')].some(li => li.textContent.includes('<script>window.pwned=1</script>'))"#;
    browser.wait_until(note_shown, WAIT).unwrap();
    let pwned = browser.execute("return typeof window.pwned", vec![]).unwrap();
    assert_eq!(pwned, "undefined", "injected markup ran");
    let injected = browser
        .execute(
            r#"return document.querySelectorAll('img[src="x"], #timeline script').length"#,
            vec![],
        )
        .unwrap();
    assert_eq!(injected, 0, "injected markup became elements");
    browser.screenshot_png(screenshot_path("dashboard.png")).unwrap();
    demo.terminate();
}

#[test]
#[ignore = "needs chromium and chromedriver; run via the README test command"]
fn the_log_level_shows_and_changes_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(
        dir.path(),
        &["--workflows", "2", "--rate", "20", "--duration", "0", "--seed", "5"],
        &[("AUREUS_LOG", "info")],
    );
    let browser = Browser::start().unwrap();
    browser.goto(&format!("http://{}/monitoring", demo.addr)).unwrap();
    let current = |filter: &str| format!("document.querySelector('#log-level-control').dataset.current === '{filter}'");
    browser
        .wait_until(&current("info"), WAIT)
        .unwrap_or_else(|e| panic!("{e}\n{}", browser.logs()));
    assert_eq!(browser.find("#log-level").unwrap().property("value").unwrap(), "info");

    // Change it from the page: the server applies it and the page shows what it answered.
    let input = browser.find("#log-level").unwrap();
    input.clear().unwrap();
    input.send_keys("info,aureus::planner=debug").unwrap();
    let by = browser.find("#log-level-by").unwrap();
    by.clear().unwrap();
    by.send_keys("chromium-tester").unwrap();
    browser.find("#log-level-apply").unwrap().click().unwrap();
    browser
        .wait_until(&current("info,aureus::planner=debug"), WAIT)
        .unwrap();
    let (_, body) = prometheus::http_get(demo.addr, "/api/monitoring/log-level", &[]).unwrap();
    let view: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(view["filter"], "info,aureus::planner=debug", "{body}");
    // Who changed what is on record.
    let audited = || {
        let (_, body) = prometheus::http_get(demo.addr, "/api/monitoring/events?type=custom&limit=1000", &[]).unwrap();
        body.contains("log_level_changed") && body.contains("chromium-tester")
    };
    let until = std::time::Instant::now() + WAIT;
    while !audited() {
        assert!(std::time::Instant::now() < until, "no audit record of the change");
        std::thread::sleep(Duration::from_millis(200));
    }

    // Bad directives: shown as not changed, and nothing changed.
    input.clear().unwrap();
    input.send_keys("info,aureus=loud").unwrap();
    browser.find("#log-level-apply").unwrap().click().unwrap();
    browser
        .wait_until(
            "document.querySelector('#log-level-control').dataset.error === 'true' && \
             document.querySelector('#log-level-status').textContent.includes('not changed')",
            WAIT,
        )
        .unwrap();
    let (_, body) = prometheus::http_get(demo.addr, "/api/monitoring/log-level", &[]).unwrap();
    assert!(body.contains(r#""filter":"info,aureus::planner=debug""#), "{body}");
    browser
        .screenshot_png(screenshot_path("dashboard-log-level.png"))
        .unwrap();
    demo.terminate();
}

/// The series colours of the two charts (monitoring.js): success rate; p50, p90, p99.
const SUCCESS_RATE_COLOURS: &str = "[[26,127,55]]";
const DURATION_COLOURS: &str = "[[9,105,218],[191,135,0],[207,34,46]]";

/// A JS expression: `[pixels, columns, leftmost, rightmost, rowOfRightmost]` of
/// opaque pixels in `chart`'s canvas within 24 of one of `colours` — what
/// uPlot really drew for the series (axes and grid are other colours, the
/// success-rate fill is translucent).
fn drawn(chart: &str, colours: &str) -> String {
    format!(
        r#"(() => {{
            const canvas = document.querySelector('{chart} canvas');
            if (!canvas || !canvas.width || !canvas.height) return [0, 0, -1, -1, -1];
            const colours = {colours};
            const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            let pixels = 0, left = -1, right = -1, rightY = -1;
            const columns = new Set();
            for (let i = 0; i < data.length; i += 4) {{
                if (data[i + 3] < 200) continue;
                const hit = colours.some(c => Math.abs(data[i] - c[0]) <= 24 && Math.abs(data[i + 1] - c[1]) <= 24
                    && Math.abs(data[i + 2] - c[2]) <= 24);
                if (!hit) continue;
                const x = (i / 4) % canvas.width, y = Math.floor(i / 4 / canvas.width);
                pixels++;
                columns.add(x);
                if (left < 0 || x < left) left = x;
                if (x > right) {{ right = x; rightY = y; }}
            }}
            return [pixels, columns.size, left, right, rightY];
        }})()"#
    )
}

#[test]
#[ignore = "needs chromium and chromedriver; run via the README test command"]
fn charts_draw_series_five_seconds_after_the_demo_starts_whatever_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(
        dir.path(),
        &[
            "--workflows",
            "4",
            "--rate",
            "150",
            "--duration",
            "0",
            "--failure-rate",
            "0.2",
            "--seed",
            "11",
        ],
        &[],
    );
    let started = Instant::now();
    let browser = Browser::start().unwrap();
    std::thread::sleep(Duration::from_secs(5).saturating_sub(started.elapsed()));
    browser.goto(&format!("http://{}/monitoring", demo.addr)).unwrap();
    browser
        .wait_until("document.body.dataset.ready === 'true'", WAIT)
        .unwrap_or_else(|e| panic!("{e}\n{}", browser.logs()));
    // Both charts show lines across several points at once, in the default
    // range (1 h) and every other one: the first load draws them (a lone
    // point in a minute-wide bucket would cover a few columns, not a line).
    let lines = format!(
        "{sr}[1] >= 100 && {du}[1] >= 100",
        sr = drawn("#chart-success-rate", SUCCESS_RATE_COLOURS),
        du = drawn("#chart-durations", DURATION_COLOURS)
    );
    let ranges = ["3600000", "300000", "900000", "21600000", "86400000", "604800000"];
    for (i, range) in ranges.into_iter().enumerate() {
        if i > 0 {
            browser
                .execute(
                    "const s = document.querySelector('#time-range'); s.value = arguments[0];
                     s.dispatchEvent(new Event('change', { bubbles: true })); return s.value;",
                    vec![serde_json::json!(range)],
                )
                .unwrap();
        }
        let shown = browser.wait_until(&lines, Duration::from_secs(4));
        let counts = browser
            .execute(
                &format!(
                    "return [{}, {}]",
                    drawn("#chart-success-rate", SUCCESS_RATE_COLOURS),
                    drawn("#chart-durations", DURATION_COLOURS)
                ),
                vec![],
            )
            .unwrap();
        assert!(
            shown.is_ok(),
            "range {range}: no drawn series ([pixels, columns, …] = {counts})"
        );
        let (_, body) = prometheus::http_get(
            demo.addr,
            &format!("/api/monitoring/timeseries?timeRange={range}&points=120"),
            &[],
        )
        .unwrap();
        let series: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(series["bucketMs"], 1000, "range {range}: {body}");
    }
    browser
        .screenshot_png(screenshot_path("dashboard-first-seconds.png"))
        .unwrap();
    drop(browser);
    demo.terminate();
}

#[test]
#[ignore = "needs chromium and chromedriver; run via the README test command"]
fn a_lone_value_among_many_empty_buckets_is_drawn() {
    // The page itself, without data: the charts are drawn with its own options.
    let stack = workflow::stack(None);
    let browser = Browser::start().unwrap();
    browser.goto(&format!("http://{}/monitoring", stack.addr)).unwrap();
    browser
        .wait_until(
            "document.body.dataset.ready === 'true' && !!window.AureusMonitoring",
            WAIT,
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", browser.logs()));
    // 240 one-second buckets (more than uPlot draws markers for at this
    // width: without the page's filter a lone value would be invisible), one
    // lone value on the left half, a pair joined by a line on the right.
    // A control chart without the page's `points.filter` shows what the
    // filter fixes: there the lone value leaves no mark at all.
    browser
        .execute(
            r#"const xs = [], ys = [];
               for (let i = 0; i < 240; i++) { xs.push(1790000000 + i); ys.push(null); }
               ys[60] = 50; ys[180] = 80; ys[181] = 80;
               for (const [id, filtered] of [['lone-test', true], ['lone-control', false]]) {
                   const host = document.createElement('div');
                   host.id = id;
                   document.querySelector('#charts').appendChild(host);
                   const options = window.AureusMonitoring.successRateOptions(600);
                   if (!filtered) options.series[1].points = { size: 5 };
                   new uPlot(options, [xs, ys], host);
               }
               return true;"#,
            vec![],
        )
        .unwrap();
    let lone = |id: &str| {
        format!(
            r#"(() => {{
                const canvas = document.querySelector('#{id} canvas');
                if (!canvas) return -1;
                const half = Math.floor(canvas.width / 2);
                const data = canvas.getContext('2d').getImageData(0, 0, half, canvas.height).data;
                const columns = new Set();
                for (let i = 0; i < data.length; i += 4) {{
                    if (data[i + 3] >= 200 && Math.abs(data[i] - 26) <= 24 && Math.abs(data[i + 1] - 127) <= 24
                        && Math.abs(data[i + 2] - 55) <= 24) columns.add((i / 4) % half);
                }}
                return columns.size;
            }})()"#
        )
    };
    let drawn_lone = browser.wait_until(&format!("{} >= 3", lone("lone-test")), Duration::from_secs(10));
    let columns = browser
        .execute(
            &format!("return [{}, {}]", lone("lone-test"), lone("lone-control")),
            vec![],
        )
        .unwrap();
    assert!(
        drawn_lone.is_ok(),
        "the lone value is not drawn ([page, control] columns: {columns})"
    );
    // The pair draws in both (the control chart did render), the lone value only with the filter.
    assert_eq!(columns[1], 0, "uPlot drew the lone value without the filter: {columns}");
    let pair = browser
        .execute(
            "const c = document.querySelector('#lone-control canvas');
             const d = c.getContext('2d').getImageData(Math.floor(c.width / 2), 0, Math.ceil(c.width / 2), c.height).data;
             let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 3] >= 200 && Math.abs(d[i] - 26) <= 24
                 && Math.abs(d[i + 1] - 127) <= 24 && Math.abs(d[i + 2] - 55) <= 24) n++;
             return n;",
            vec![],
        )
        .unwrap();
    assert!(
        pair.as_u64().is_some_and(|n| n > 0),
        "the control chart drew nothing: {pair}"
    );
    drop(browser);
    stack.telemetry.shutdown(Duration::from_secs(5));
}

/// Clicks at viewport coordinates (CSS pixels) with a real pointer.
fn click_at(browser: &Browser, x: i64, y: i64) {
    browser
        .cmd(
            "POST",
            "/actions",
            Some(serde_json::json!({ "actions": [{
                "type": "pointer", "id": "mouse", "parameters": { "pointerType": "mouse" },
                "actions": [
                    { "type": "pointerMove", "duration": 0, "origin": "viewport", "x": x, "y": y },
                    { "type": "pointerDown", "button": 0 },
                    { "type": "pointerUp", "button": 0 }
                ]
            }]})),
        )
        .unwrap();
    let _ = browser.cmd("DELETE", "/actions", None);
}

#[test]
#[ignore = "needs chromium and chromedriver; run via the README test command"]
fn a_run_opens_as_a_waterfall_from_its_link_a_chart_point_and_the_timeline() {
    const TOKEN: &str = "run-view-token";
    const CID: &str = "tenant-b/run:7";
    let stack = workflow::stack(Some(TOKEN));
    tracing::dispatcher::with_default(&stack.dispatch, || {
        workflow::good_run("corr-browser-good");
        workflow::failed_run(CID);
    });
    assert!(stack.telemetry.flush(Duration::from_secs(5)));
    let auth = format!("Bearer {TOKEN}");
    let (status, body) = prometheus::http_get(
        stack.addr,
        "/api/monitoring/runs/tenant-b%2Frun%3A7",
        &[("Authorization", &auth)],
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let run: serde_json::Value = serde_json::from_str(&body).unwrap();
    let trace_url = workflow::TRACE_TEMPLATE.replace("{trace_id}", run["traceId"].as_str().unwrap());

    // Opened by its address (the token in the query sets the page's cookie).
    let browser = Browser::start().unwrap();
    let base = format!("http://{}/monitoring", stack.addr);
    browser
        .goto(&format!("{base}?token={TOKEN}#run=tenant-b%2Frun%3A7"))
        .unwrap();
    let loaded = |cid: &str| {
        format!(
            "(() => {{ const v = document.querySelector('#run-view'); return !v.hidden && v.dataset.loaded === 'true' && v.dataset.runId === {cid:?}; }})()"
        )
    };
    browser
        .wait_until(&loaded(CID), WAIT)
        .unwrap_or_else(|e| panic!("{e}\n{}", browser.logs()));
    let rows = browser
        .execute(
            "return [...document.querySelectorAll('#run-rows li.run-row')].map(li => ({
                kind: li.dataset.kind, status: li.dataset.status, text: li.textContent,
                failedMark: li.classList.contains('status-failed') && !!li.querySelector('.run-failure'),
                llm: (li.querySelector('.run-llm') || {}).textContent || '',
                barWidth: parseFloat(li.querySelector('.run-bar').style.width),
                barShown: li.querySelector('.run-bar').getBoundingClientRect().width > 0,
            }));",
            vec![],
        )
        .unwrap();
    let rows = rows.as_array().unwrap();
    let kinds: std::collections::BTreeSet<&str> = rows.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    for kind in [
        "step", "llm", "artifact", "tool", "crv", "policy", "snapshot", "rollback",
    ] {
        assert!(kinds.contains(kind), "no {kind} row in {rows:?}");
    }
    assert!(rows.iter().all(|r| r["barShown"] == true), "{rows:?}");
    let failed: Vec<&serde_json::Value> = rows.iter().filter(|r| r["status"] == "failed").collect();
    assert_eq!(failed.len(), 6, "{rows:?}");
    assert!(failed.iter().all(|r| r["failedMark"] == true), "{failed:?}");
    for kind in ["step", "crv", "policy", "rollback"] {
        assert!(
            failed.iter().any(|r| r["kind"] == kind),
            "no failed {kind} row: {failed:?}"
        );
    }
    let steps: Vec<&serde_json::Value> = rows.iter().filter(|r| r["kind"] == "step").collect();
    assert!(
        steps.iter().all(|r| r["barWidth"].as_f64().is_some_and(|w| w > 0.0)),
        "{steps:?}"
    );
    let llm = rows.iter().find(|r| r["kind"] == "llm").unwrap();
    let llm_text = llm["llm"].as_str().unwrap();
    for expected in ["aureus-llm-large", "in 1234", "out 567 tokens", "$0.0421"] {
        assert!(llm_text.contains(expected), "{expected:?} not in {llm_text:?}");
    }
    let summary = browser.find("#run-summary").unwrap().text().unwrap();
    assert!(
        summary.contains("6 failures") && summary.contains("wf-run-view"),
        "{summary}"
    );
    let link = browser.find("#run-trace a.trace-link").unwrap();
    assert_eq!(link.property("href").unwrap(), trace_url.as_str());
    assert_eq!(link.attr("rel").unwrap().as_deref(), Some("noopener noreferrer"));
    browser.screenshot_png(screenshot_path("dashboard-run.png")).unwrap();

    // Closed, then reopened from a chart point: the latest bucket's exemplar
    // is this run's failed step.
    browser.find("#run-close").unwrap().click().unwrap();
    browser
        .wait_until(
            "document.querySelector('#run-view').hidden && location.hash === ''",
            WAIT,
        )
        .unwrap();
    let chart = "#chart-success-rate";
    browser
        .execute(
            &format!("document.querySelector('{chart}').scrollIntoView({{block: 'center'}}); return true;"),
            vec![],
        )
        .unwrap();
    browser
        .wait_until(&format!("{}[0] > 0", drawn(chart, SUCCESS_RATE_COLOURS)), WAIT)
        .unwrap_or_else(|e| panic!("the chart draws nothing: {e}"));
    // The rightmost drawn pixel is the right edge of the last point's marker.
    let target = browser
        .execute(
            &format!(
                "const d = {}; const c = document.querySelector('{chart} canvas');
                 const r = c.getBoundingClientRect(); const k = r.width / c.width;
                 return [Math.round(r.left + (d[3] - 3) * k), Math.round(r.top + d[4] * k)];",
                drawn(chart, SUCCESS_RATE_COLOURS)
            ),
            vec![],
        )
        .unwrap();
    let (x, y) = (target[0].as_i64().unwrap(), target[1].as_i64().unwrap());
    click_at(&browser, x, y);
    browser
        .wait_until(&loaded(CID), WAIT)
        .unwrap_or_else(|e| panic!("clicking the point at ({x}, {y}) opened no run: {e}"));
    let hash = browser.execute("return location.hash", vec![]).unwrap();
    assert_eq!(hash, "#run=tenant-b%2Frun%3A7");

    // And from the timeline: another run's "run" button.
    browser
        .wait_until(
            "[...document.querySelectorAll('#timeline-list .run-link')].some(b => b.dataset.filterValue === 'corr-browser-good')",
            WAIT,
        )
        .unwrap();
    browser
        .execute(
            "[...document.querySelectorAll('#timeline-list .run-link')]
                .find(b => b.dataset.filterValue === 'corr-browser-good').click(); return true;",
            vec![],
        )
        .unwrap();
    browser.wait_until(&loaded("corr-browser-good"), WAIT).unwrap();
    let good = browser
        .execute(
            "return [document.querySelectorAll('#run-rows li.run-row').length,
                     document.querySelectorAll('#run-rows li.status-failed').length]",
            vec![],
        )
        .unwrap();
    assert_eq!(good, serde_json::json!([1, 0]));
    drop(browser);
    stack.telemetry.shutdown(Duration::from_secs(5));
}

/// Token counts beyond 2^53 − 1 arrive as decimal strings; the run view
/// shows them exactly (they used to be dropped from the row and the summary).
#[test]
#[ignore = "needs chromium and chromedriver; run via the README test command"]
fn a_run_shows_token_counts_beyond_two_to_the_53_exactly() {
    let stack = workflow::stack(None);
    let big: u64 = (1 << 53) + 1;
    tracing::dispatcher::with_default(&stack.dispatch, || {
        let span = tracing::info_span!("workflow", correlation_id = "corr-big-tokens");
        let _entered = span.enter();
        tracing::info!(target: "aureus", event_type = "llm_response", model = "m-big",
            input_tokens = big, output_tokens = 5u64, cost_usd = 0.5);
    });
    assert!(stack.telemetry.flush(Duration::from_secs(5)));
    let browser = Browser::start().unwrap();
    browser
        .goto(&format!("http://{}/monitoring#run=corr-big-tokens", stack.addr))
        .unwrap();
    browser
        .wait_until(
            "(() => { const v = document.querySelector('#run-view'); return !v.hidden && v.dataset.loaded === 'true'; })()",
            WAIT,
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", browser.logs()));
    let llm = browser.find("#run-rows li.run-row .run-llm").unwrap().text().unwrap();
    assert!(
        llm.contains(&format!("in {big}")) && llm.contains("out 5 tokens"),
        "{llm}"
    );
    let summary = browser.find("#run-summary").unwrap().text().unwrap();
    assert!(summary.contains(&format!("in {big}")), "{summary}");
    stack.telemetry.shutdown(Duration::from_secs(5));
}

/// Hostile markup in every text a run row or the run summary shows — model,
/// provider, finish reason, tool name, call id, gate, failure code, policy
/// reason, snapshot id, error, workflow id, a custom event's name and
/// message — is shown as text and runs nothing.
#[test]
#[ignore = "needs chromium and chromedriver; run via the README test command"]
fn hostile_markup_in_a_run_is_shown_as_text() {
    let stack = workflow::stack(None);
    tracing::dispatcher::with_default(&stack.dispatch, || {
        let span = tracing::info_span!("workflow", correlation_id = "corr-hostile-run");
        let _entered = span.enter();
        let h = HOSTILE;
        tracing::info!(target: "aureus", event_type = "step_start", workflow_id = h, task_id = h, task_type = h);
        tracing::info!(target: "aureus", event_type = "llm_prompt", model = h, prompt_length = 3u64);
        tracing::info!(target: "aureus", event_type = "llm_response", model = h, provider = h, finish_reason = h,
            input_tokens = 3u64, output_tokens = 4u64, cost_usd = 0.25);
        tracing::info!(target: "aureus", event_type = "tool_call", workflow_id = h, task_id = h, tool_name = h, call_id = h, error = h);
        tracing::info!(target: "aureus", event_type = "crv_result", workflow_id = h, task_id = h, gate_name = h,
            passed = false, blocked = true, failure_code = h);
        tracing::info!(target: "aureus", event_type = "policy_check", allowed = false, reason = h);
        tracing::info!(target: "aureus", event_type = "snapshot_commit", snapshot_id = h);
        tracing::info!(target: "aureus", event_type = "rollback", snapshot_id = h, reason = h);
        tracing::info!(target: "aureus", event_type = "custom", name = h, "{h}");
        tracing::info!(target: "aureus", event_type = "step_end", workflow_id = h, task_id = h, task_type = h,
            success = false, duration_ms = 5.0, error = h);
    });
    assert!(stack.telemetry.flush(Duration::from_secs(5)));
    let browser = Browser::start().unwrap();
    browser
        .goto(&format!("http://{}/monitoring#run=corr-hostile-run", stack.addr))
        .unwrap();
    browser
        .wait_until(
            "(() => { const v = document.querySelector('#run-view'); return !v.hidden && v.dataset.loaded === 'true'; })()",
            WAIT,
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", browser.logs()));
    let seen = browser
        .execute(
            "const v = document.querySelector('#run-view');
             return [window.pwned === undefined, v.querySelectorAll('script, img').length,
                     document.querySelectorAll('#run-rows li.run-row').length,
                     (v.textContent.match(/<script>window\\.pwned=1<\\/script>/g) || []).length];",
            vec![],
        )
        .unwrap();
    let seen = seen.as_array().unwrap();
    assert_eq!(seen[0], true, "markup ran: {seen:?}");
    assert_eq!(seen[1], 0, "markup parsed into elements: {seen:?}");
    assert!(seen[2].as_u64().unwrap() >= 8, "{seen:?}");
    assert!(seen[3].as_u64().unwrap() >= 10, "the markup shown as text: {seen:?}");
    drop(browser);
    stack.telemetry.shutdown(Duration::from_secs(5));
}
