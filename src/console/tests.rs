//! The console drawn on ratatui's TestBackend from a fixed state, and keys
//! pressed against it.

use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::keys::{Action, handle};
use super::model::{FailureRow, Model, Placed, Point, Row, RowKind};
use super::view::{Sort, Tab, UiState, draw, sorted_rows};
use crate::cluster::live::{Command, Phase, WorkerRow};
use crate::stats::{Rows, StatId};

fn row(kind: RowKind, group: usize, name: &str, requests: u64, p99: u64) -> Row {
    Row {
        kind,
        // Distinct per name, as statistics indices are.
        stat: if group == usize::MAX {
            StatId::TOTAL
        } else {
            Rows::request(name.len() * 7 + group)
        },
        group,
        name: name.into(),
        requests,
        failures: if name == "login" { 3 } else { 0 },
        rps: requests as f64 / 42.0,
        mean: 900.0,
        p50: 800,
        p90: 1_500,
        p95: 2_000,
        p99,
        p999: 9_000,
        max: 12_000,
        size: 57.0,
        ttfb: None,
        protocols: Default::default(),
    }
}

fn model() -> Model {
    let series = (1..=42)
        .map(|t| Point {
            t: t as f64,
            rps: 1000.0 + t as f64,
            failures: 2.0,
            p50: 0.8,
            p95: 2.0,
            p99: 3.1,
            max: 12.0,
        })
        .collect();
    Model {
        selected: None,
        phase: Phase::Running,
        scenario: "shop-journey".into(),
        target: "http://127.0.0.1:8000".into(),
        elapsed: Duration::from_secs(42),
        duration: Some(Duration::from_secs(60)),
        users: 8,
        open: false,
        total: 10.0,
        step: 1.0,
        expected_workers: 2,
        rps: 1042.0,
        failure_percent: 0.25,
        series,
        distribution: vec![
            ("<1ms".into(), 700),
            ("<2.5ms".into(), 250),
            ("<25ms".into(), 50),
        ],
        rows: vec![
            row(RowKind::Request, 0, "health", 500, 1_100),
            row(RowKind::Flow, 1, "flow:checkout", 300, 250_000),
            row(RowKind::Step, 1, "login", 300, 3_000),
            row(RowKind::Step, 1, "order", 290, 4_000),
        ],
        total_row: row(RowKind::Request, usize::MAX, "total", 1090, 4_000),
        workers: vec![
            WorkerRow {
                id: "w1".into(),
                host: "gen-a".into(),
                state: "running",
                users: 4,
                rps: 520.0,
                cpu_percent: 93.0,
                last_report: Some(Duration::from_millis(400)),
                invalid: Vec::new(),
            },
            WorkerRow {
                id: "w2".into(),
                host: "gen-b".into(),
                state: "lost",
                users: 0,
                rps: 0.0,
                cpu_percent: 12.0,
                last_report: Some(Duration::from_secs(7)),
                invalid: Vec::new(),
            },
        ],
        failures: vec![FailureRow {
            reason: "status: HTTP 409 Conflict".into(),
            name: "login".into(),
            count: 3,
            last: "account in use".into(),
        }],
        notes: vec!["worker w2 (gen-b) was lost at 35.0 s".into()],
        invalid: Vec::new(),
        info: String::new(),
        search: None,
    }
}

fn render(m: &Model, ui: &UiState, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| draw(f, m, ui)).unwrap();
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        for x in 0..w {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

#[test]
fn header_table_and_charts_at_80x24() {
    let text = render(&model(), &UiState::default(), 80, 24);
    for want in [
        "RUNNING",
        "shop-journey → http://127.0.0.1:8000",
        "42s/1m00s",
        "18s left",
        "users 8/10 ±1",
        "workers 1/2",
        "failures 0.25%",
        "throughput",
        "latency (log scale)",
        // The legend names the lines; the axis is in decades.
        "p50",
        "p99",
        "1ms",
        "health",
        "flow:checkout",
        "└ login",
        "3.00ms",
        "250ms",
        "total",
        "x stop",
        "+/- users ±1",
        "! worker w2 (gen-b) was lost",
    ] {
        assert!(text.contains(want), "no {want:?} in\n{text}");
    }
    // Narrow: no distribution, no p99.9 column.
    assert!(!text.contains("distribution"), "{text}");
    assert!(!text.contains("p99.9"), "{text}");
}

#[test]
fn a_larger_terminal_shows_more_at_160x48() {
    let text = render(&model(), &UiState::default(), 160, 48);
    for want in [
        "distribution",
        "<2.5ms",
        "p99.9",
        "size",
        "57B",
        "mean",
        "900us",
    ] {
        assert!(text.contains(want), "no {want:?} in\n{text}");
    }
}

/// The model with protocols: "health" moved from HTTP/2 to HTTP/3, the
/// flow's steps kept to HTTP/1.1, the flow itself counts none.
fn with_protocols() -> Model {
    use crate::stats::Protocol;
    let mut m = model();
    for r in m.rows.iter_mut().chain([&mut m.total_row]) {
        match r.name.as_str() {
            "health" => {
                r.protocols.set(Protocol::Http2, 20);
                r.protocols.set(Protocol::Http3, 480);
            }
            "login" | "order" => r.protocols.set(Protocol::Http1, r.requests),
            "total" => {
                r.protocols.set(Protocol::Http1, 590);
                r.protocols.set(Protocol::Http2, 20);
                r.protocols.set(Protocol::Http3, 480);
            }
            _ => {}
        }
    }
    m
}

/// The requests table's line of `name`, and its header's.
fn table_line<'a>(text: &'a str, name: &str) -> (&'a str, &'a str) {
    let header = text.lines().find(|l| l.starts_with("name ")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(name) && l != &header)
        .unwrap_or_else(|| panic!("no {name:?} in\n{text}"));
    (header, line)
}

#[test]
fn the_requests_table_says_which_protocol_answered() {
    for (w, h) in [(80, 24), (160, 48)] {
        let text = render(&with_protocols(), &UiState::default(), w, h);
        let (header, health) = table_line(&text, "health ");
        assert!(header.contains("proto"), "{w}: {header}");
        let at = |line: &str, cell: &str| line.find(cell).map(|i| line[..i].chars().count());
        let column = at(header, "pr");
        assert_eq!(at(health, "h2+h3"), column, "{w}:\n{text}");
        let (_, login) = table_line(&text, "  └ login");
        assert_eq!(at(login, "h1"), column, "{w}:\n{text}");
        let (_, total) = table_line(&text, "total ");
        assert_eq!(at(total, "h1+h2+h3"), column, "{w}:\n{text}");
        // The flow counts no connection: a blank cell.
        // (Its name cut at 80 columns, where the protocol takes the slack.)
        let (_, flow) = table_line(&text, "flow:check");
        assert!(!flow.contains("h1") && !flow.contains('-'), "{w}: {flow}");
        // The other columns are all still there.
        for want in ["reqs", "fails", "rps", "p50", "p99", "max"] {
            assert!(header.contains(want), "{w}: no {want} in {header}");
        }
    }
    // None counted (a run before volley counted them): no column.
    let text = render(&model(), &UiState::default(), 80, 24);
    assert!(!text.contains("proto"), "{text}");
}

#[test]
fn workers_and_failures_views() {
    let mut ui = UiState {
        tab: Tab::Workers,
        ..UiState::default()
    };
    let text = render(&model(), &ui, 80, 24);
    for want in ["gen-a", "93% !", "lost", "7.0s", "Workers (2)"] {
        assert!(text.contains(want), "no {want:?} in\n{text}");
    }
    ui.tab = Tab::Failures;
    let text = render(&model(), &ui, 80, 24);
    assert!(text.contains("HTTP 409 Conflict"), "{text}");
    assert!(text.contains("account in use"), "{text}");
}

#[test]
fn sorting_keeps_steps_beneath_their_flow() {
    let m = model();
    let names: Vec<&str> = sorted_rows(&m, Sort::P99)
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(names, ["flow:checkout", "login", "order", "health"]);
    let names: Vec<&str> = sorted_rows(&m, Sort::File)
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(names, ["health", "flow:checkout", "login", "order"]);
}

fn key(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

#[test]
fn keys_steer_the_run_and_quitting_asks_first() {
    let m = model();
    let mut ui = UiState::default();
    assert_eq!(
        handle(key(KeyCode::Char('+')), &mut ui, &m),
        Action::Send(Command::SetTotal(11.0))
    );
    assert_eq!(
        handle(key(KeyCode::Char('-')), &mut ui, &m),
        Action::Send(Command::SetTotal(9.0))
    );
    assert_eq!(
        handle(key(KeyCode::Char('x')), &mut ui, &m),
        Action::Send(Command::Stop)
    );
    assert_eq!(
        handle(key(KeyCode::Char('r')), &mut ui, &m),
        Action::Send(Command::Reset)
    );
    handle(key(KeyCode::Char('s')), &mut ui, &m);
    assert_eq!(ui.sort, Sort::Requests);
    // The first move marks the row shown; each next one moves.
    handle(key(KeyCode::Down), &mut ui, &m);
    assert_eq!(ui.selected, 0);
    handle(key(KeyCode::Down), &mut ui, &m);
    handle(key(KeyCode::Down), &mut ui, &m);
    assert_eq!(ui.selected, 2);
    handle(key(KeyCode::Tab), &mut ui, &m);
    assert_eq!((ui.tab, ui.selected), (Tab::Workers, 0));
    // q while running asks; n keeps going; q then y quits.
    assert_eq!(handle(key(KeyCode::Char('q')), &mut ui, &m), Action::None);
    assert!(ui.confirm_quit);
    assert!(render(&m, &ui, 80, 24).contains("Stop the workers and quit?"));
    assert_eq!(handle(key(KeyCode::Char('n')), &mut ui, &m), Action::None);
    assert!(!ui.confirm_quit);
    handle(key(KeyCode::Char('q')), &mut ui, &m);
    assert_eq!(handle(key(KeyCode::Char('y')), &mut ui, &m), Action::Quit);
    // Done: q leaves at once; waiting: enter starts.
    let done = Model {
        phase: Phase::Done,
        ..model()
    };
    assert_eq!(
        handle(key(KeyCode::Char('q')), &mut ui, &done),
        Action::Quit
    );
    let waiting = Model {
        phase: Phase::Waiting,
        ..model()
    };
    assert_eq!(
        handle(key(KeyCode::Enter), &mut ui, &waiting),
        Action::Send(Command::StartNow)
    );
    assert_eq!(
        handle(key(KeyCode::Char('+')), &mut ui, &waiting),
        Action::None
    );
}

#[test]
fn no_color_draws_without_colours() {
    let ui = UiState {
        color: false,
        ..UiState::default()
    };
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| draw(f, &model(), &ui)).unwrap();
    let buf = t.backend().buffer();
    let coloured = buf
        .content()
        .iter()
        .filter(|c| c.fg != ratatui::style::Color::Reset || c.bg != ratatui::style::Color::Reset)
        .count();
    assert_eq!(coloured, 0);
}

#[test]
fn a_frame_is_built_from_the_runs_statistics() {
    use crate::scenario::compile::{MemorySources, Options, compile};
    use crate::stats::{NameSnapshot, RunStats, Snapshot, histogram};
    let text = "[http]\nbase_url = \"http://127.0.0.1:1\"\n[[request]]\nname = \"health\"\n\
                [[flow]]\nname = \"buy\"\n[[flow.step]]\nname = \"login\"\n\
                capture = { t = { json = \"/t\" } }\n[[flow.step]]\nname = \"order\"\npath = \"/o/{{ t }}\"\n";
    let s = compile(
        std::path::Path::new("s.toml"),
        text,
        &MemorySources(Default::default()),
        &Options::default(),
    )
    .unwrap();
    let layout = super::model::Layout::of(&s);
    let mut run = RunStats::new(s.rows.clone());
    let names = (0..4u32)
        .map(|i| {
            let mut n = NameSnapshot::empty(StatId(i));
            for v in [100, 200, 300] {
                histogram::record(&mut n.hist, v * u64::from(i + 1));
                n.requests += 1;
            }
            n
        })
        .collect();
    run.apply(
        0,
        &Snapshot {
            at_ms: 1000,
            interval_ms: 1000,
            users: 3,
            names,
            ..Snapshot::default()
        },
    );
    run.finish();
    let board = running_board(3.0);
    let m = Model::build(&run, &board, &layout, None);
    let rows: Vec<(RowKind, &str)> = m.rows.iter().map(|r| (r.kind, r.name.as_str())).collect();
    assert_eq!(
        rows,
        [
            (RowKind::Request, "health"),
            (RowKind::Flow, "flow:buy"),
            (RowKind::Step, "login"),
            (RowKind::Step, "order"),
        ]
    );
    // The flow's iterations are not requests.
    assert_eq!(m.total_row.requests, 9);
    assert_eq!(m.rows[1].p99, 1200);
    assert_eq!((m.users, m.series.len()), (3, 1));
    assert!(!m.distribution.is_empty());
}

#[test]
fn a_streaming_calls_rows_follow_it_as_steps() {
    use crate::scenario::compile::{MemorySources, Options, compile};
    let proto = include_bytes!("../../proto/predict/v1/predict.proto").to_vec();
    let files = [("predict.proto".to_owned(), bytes::Bytes::from(proto))]
        .into_iter()
        .collect();
    let text = "[grpc]\nendpoint = \"http://127.0.0.1:1\"\nproto = \"predict.proto\"\n\
                [[request]]\nname = \"chat\"\ngrpc = \"predict.v1.Predictor/PredictStream\"\n\
                message = { text = \"a\" }\n[request.stream]\nmessages = 3\n\
                [[request]]\nname = \"one\"\ngrpc = \"predict.v1.Predictor/Predict\"\nmessage = { text = \"a\" }\n";
    let s = compile(
        std::path::Path::new("s.toml"),
        text,
        &MemorySources(files),
        &Options::default(),
    )
    .unwrap();
    assert_eq!(
        s.names(),
        ["chat", "one", "sent:chat", "first:chat", "msg:chat"]
    );
    let layout = super::model::Layout::of(&s);
    let order: Vec<(RowKind, StatId, usize)> = layout
        .order
        .iter()
        .map(|p| (p.kind, p.stat, p.group))
        .collect();
    assert_eq!(
        order,
        [
            (RowKind::Request, StatId(0), 0),
            (RowKind::Step, StatId(2), 0),
            (RowKind::Step, StatId(3), 0),
            (RowKind::Step, StatId(4), 0),
            (RowKind::Request, StatId(1), 1),
        ]
    );
    // gRPC calls have no time to first byte.
    assert!(layout.order.iter().all(|p| p.ttfb.is_none()));
}

#[test]
fn without_colour_each_latency_line_has_its_own_marker_in_the_legend() {
    let ui = UiState {
        color: false,
        ..UiState::default()
    };
    let text = render(&model(), &ui, 160, 48);
    for want in ["p50 •", "p95 ⣿", "p99 █", "max ▄"] {
        assert!(text.contains(want), "no {want:?} in\n{text}");
    }
}

#[test]
fn distribution_lines_keep_labels_whole_and_give_shares() {
    use super::view::distribution_lines;
    let dist = vec![
        ("<1ms".to_string(), 900u64),
        ("<2.5ms".to_string(), 99),
        ("<1s".to_string(), 1),
    ];
    let lines = distribution_lines(&dist, 30);
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l.chars().count() <= 30), "{lines:?}");
    assert!(lines[0].starts_with("  <1ms █"), "{lines:?}");
    assert!(lines[0].ends_with(" 90.0%"), "{lines:?}");
    assert!(lines[1].starts_with("<2.5ms "), "{lines:?}");
    assert!(lines[2].ends_with("  0.1%"), "{lines:?}");
    // The largest bucket fills the bar; nothing is drawn past it.
    let full = lines[0].matches('█').count();
    assert!(full >= 15, "{lines:?}");
    assert!(distribution_lines(&[], 30).is_empty());
}

#[test]
fn once_stopped_the_header_shows_the_mean_rate_and_no_time_left() {
    let mut m = model();
    m.phase = Phase::Done;
    let text = render(&m, &UiState::default(), 80, 24);
    assert!(text.contains("req/s (mean)"), "{text}");
    assert!(!text.contains("left"), "{text}");
}

#[test]
fn a_target_too_long_for_the_header_ends_in_an_ellipsis() {
    let mut m = model();
    m.target = "http://a-rather-long-host-name.example.internal:8000, http://other:9000".into();
    let text = render(&m, &UiState::default(), 80, 24);
    let first = text.lines().next().unwrap_or_default();
    assert!(first.trim_end().ends_with('…'), "{first}");
}

#[test]
fn moving_to_a_row_makes_the_charts_follow_it_and_esc_goes_back() {
    let mut m = model();
    let mut ui = UiState::default();
    assert_eq!(super::view::selected_stat(&m, &ui), None);
    // The first move shows the row already marked; the next moves.
    assert_eq!(handle(key(KeyCode::Down), &mut ui, &m), Action::Select);
    assert_eq!(super::view::selected_stat(&m, &ui), Some(m.rows[0].stat));
    assert_eq!(handle(key(KeyCode::Down), &mut ui, &m), Action::Select);
    // The second row in file order: the flow.
    let stat = super::view::selected_stat(&m, &ui);
    assert_eq!(stat, Some(m.rows[1].stat));
    // The frame built for that row carries its series; the charts say whose.
    m.selected = Some((
        "flow:checkout".into(),
        (1..=10)
            .map(|t| Point {
                t: t as f64,
                rps: 7.0,
                p50: 250.0,
                p95: 260.0,
                p99: 270.0,
                max: 300.0,
                ..Point::default()
            })
            .collect(),
    ));
    let text = render(&m, &ui, 120, 40);
    assert!(
        text.contains("latency: flow:checkout (log scale)"),
        "{text}"
    );
    assert!(text.contains("throughput: flow:checkout"), "{text}");
    assert_eq!(handle(key(KeyCode::Esc), &mut ui, &m), Action::Select);
    assert_eq!(super::view::selected_stat(&m, &ui), None);
    let text = render(&m, &ui, 120, 40);
    assert!(text.contains(" latency (log scale)"), "{text}");
}

#[test]
fn a_frame_built_for_a_selected_name_carries_its_series() {
    use crate::stats::{NameSnapshot, RunStats, Snapshot, histogram};
    let mut run = RunStats::new(vec!["a".into(), "b".into()]);
    for sec in 1..=3u64 {
        let names = (0..2u32)
            .map(|i| {
                let mut n = NameSnapshot::empty(StatId(i));
                for _ in 0..(10 * (i as u64 + 1)) {
                    histogram::record(&mut n.hist, 1000 * (i as u64 + 1));
                    n.requests += 1;
                }
                n
            })
            .collect();
        run.apply(
            0,
            &Snapshot {
                at_ms: sec * 1000,
                interval_ms: 1000,
                users: 1,
                names,
                ..Snapshot::default()
            },
        );
    }
    run.finish();
    let board = running_board(1.0);
    let layout = super::model::Layout {
        scenario: "s".into(),
        target: "t".into(),
        info: String::new(),
        order: vec![
            Placed::new(RowKind::Request, StatId(0), 0),
            Placed::new(RowKind::Request, StatId(1), 1),
        ],
    };
    let m = Model::build(&run, &board, &layout, Some(StatId(1)));
    let (name, points) = m.selected.clone().unwrap();
    assert_eq!(name, "b");
    assert_eq!(points.len(), 3);
    assert!(
        points.iter().all(|p| p.rps == 20.0 && p.p50 == 2.0),
        "{points:?}"
    );
    // The whole run's series is both names'.
    assert!(m.series.iter().all(|p| p.rps == 30.0));
}

/// A closed-model run going on with one worker expected, at `target` users.
fn running_board(target: f64) -> crate::cluster::live::Board {
    crate::cluster::live::Board {
        phase: Phase::Running,
        open: false,
        target,
        step: 1.0,
        duration: None,
        workers: Vec::new(),
        expected_workers: 1,
        notes: Vec::new(),
        search: None,
    }
}

/// A capacity search's probes get a view of their own; the probe's rate
/// cannot be steered, so + and - are not offered.
#[test]
fn a_capacity_search_shows_its_probes_and_cannot_be_steered() {
    use crate::cluster::live::{RunningProbe, SearchBoard};
    use crate::stats::capacity::{Kind, Probe};
    let probe = |rate: f64, kind: Kind, why: &str| Probe {
        rate,
        kind,
        why: if why.is_empty() {
            Vec::new()
        } else {
            vec![why.into()]
        },
        achieved_rps: rate.min(200.0),
        seconds: 10.0,
        requests: 1000,
        failures: 0,
        error_rate: 0.0,
        p50_us: 5_000,
        p90_us: 6_000,
        p99_us: if kind == Kind::Kept { 9_000 } else { 480_000 },
        max_us: 500_000,
        slos: Vec::new(),
        stopped_at_s: None,
        missed: 0,
        waited: 0,
        generator_cpu_percent: None,
    };
    let mut m = model();
    m.open = true;
    m.total = 300.0;
    m.step = 0.0;
    m.search = Some(SearchBoard {
        slos: vec!["p99<25ms".into()],
        probes: vec![
            probe(100.0, Kind::Kept, ""),
            probe(200.0, Kind::Kept, ""),
            probe(400.0, Kind::Broken, "p99<25ms broke (observed 480ms)"),
        ],
        current: Some(RunningProbe {
            number: 4,
            rate: 300.0,
        }),
        found: "capacity 200/s so far".into(),
    });
    let mut ui = UiState::default();
    // Tab goes round the four views, Capacity last.
    for _ in 0..3 {
        handle(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE), &mut ui, &m);
    }
    assert_eq!(ui.tab, Tab::Capacity);
    let text = render(&m, &ui, 100, 30);
    for want in [
        "Capacity (3)",
        "SLOs p99<25ms · capacity 200/s so far",
        "400       broken",
        "p99<25ms broke (observed 480ms)",
        "4   300       running",
        "rate 300/s ·",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    assert!(!text.contains("+/-"), "{text}");
    assert_eq!(
        handle(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE), &mut ui, &m),
        Action::Select
    );
    assert_eq!(ui.tab, Tab::Requests);
    // Without a search there are three views.
    m.search = None;
    let mut ui = UiState::default();
    for _ in 0..3 {
        handle(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE), &mut ui, &m);
    }
    assert_eq!(ui.tab, Tab::Requests);
}

#[test]
fn times_to_first_byte_show_where_the_terminal_has_room() {
    let mut m = model();
    for r in m.rows.iter_mut().filter(|r| r.kind != RowKind::Flow) {
        r.ttfb = Some((640, 1_900));
    }
    let ui = UiState::default();
    let wide = render(&m, &ui, 160, 48);
    assert!(
        wide.contains("ttfb p50") && wide.contains("ttfb p99"),
        "{wide}"
    );
    assert!(wide.contains("1.90ms"), "{wide}");
    let narrow = render(&m, &ui, 120, 48);
    assert!(!narrow.contains("ttfb"), "{narrow}");
    // Without an HTTP request, no empty columns.
    let wide = render(&model(), &ui, 160, 48);
    assert!(!wide.contains("ttfb"), "{wide}");
}
