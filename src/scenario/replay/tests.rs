use std::io::Write;

use super::*;

fn spec(path: &std::path::Path, format: Format) -> ReplaySpec {
    ReplaySpec {
        sources: vec![path.to_path_buf()],
        format,
        speed: 1.0,
        rate: None,
        loops: 1,
        session: SessionKey::None,
        include: Vec::new(),
        exclude: Vec::new(),
        keep_headers: Vec::new(),
        rules: Vec::new(),
        body: None,
        bodies: None,
        compare_status: true,
    }
}

fn log(lines: &[(&str, &str, u16)]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    for (i, (method, path, status)) in lines.iter().enumerate() {
        writeln!(
            f,
            "10.0.0.{} - - [10/Oct/2000:13:55:{:02} +0000] \"{method} {path} HTTP/1.1\" {status} 5 \"-\" \"ua\"",
            i % 3,
            i / 2
        )
        .unwrap();
    }
    f
}

fn all(r: &Replay) -> Vec<Entry> {
    let mut e = r.entries(0);
    let mut out = Vec::new();
    while let Some(x) = e.next_entry().unwrap() {
        out.push(x);
    }
    out
}

#[test]
fn the_index_names_counts_and_compares_statuses() {
    let f = log(&[
        ("GET", "/users/1", 200),
        ("GET", "/users/2?x=1", 404),
        ("POST", "/users", 201),
        ("GET", "/health", 200),
        ("GET", "/users/3", 200),
    ]);
    let r = spec(f.path(), Format::Combined).index().unwrap();
    let i = &r.index;
    assert_eq!(i.names, ["GET /users/{id}", "GET /health"]);
    assert_eq!(i.requests, 4);
    assert_eq!(i.skipped.get(&Skip::NoBody), Some(&1));
    assert_eq!(i.statuses[0], BTreeMap::from([(200, 2), (404, 1)]));
    assert_eq!(i.span, Duration::from_secs(2));
    let e = all(&r);
    assert_eq!(e.len(), 4);
    assert_eq!(e[1].path, "/users/2?x=1");
    assert_eq!(e[1].status, Some(404));
    assert_eq!(e.iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 1, 2, 3]);
    assert_eq!(e[2].request, 1);
    // With a body given, the POST goes, with it.
    let mut s = spec(f.path(), Format::Combined);
    s.body = Some(Bytes::from_static(b"{}"));
    s.exclude = vec![Filter::parse("/health").unwrap()];
    let r = s.index().unwrap();
    assert_eq!(r.index.names, ["GET /users/{id}", "POST /users"]);
    assert_eq!(r.index.skipped.get(&Skip::Filtered), Some(&1));
    let e = all(&r);
    assert_eq!(&e[2].body[..], b"{}");
}

#[test]
fn sessions_keep_to_one_place_and_others_spread() {
    let f = log(&[
        ("GET", "/a", 200),
        ("GET", "/b", 200),
        ("GET", "/c", 200),
        ("GET", "/d", 200),
    ]);
    let mut s = spec(f.path(), Format::Combined);
    s.session = SessionKey::Client;
    let r = s.index().unwrap();
    assert_eq!(r.index.sessions, Some(3));
    let e = all(&r);
    // 10.0.0.0 sent /a and /d.
    assert_eq!(e[0].session, e[3].session);
    assert_eq!(e[0].position(), e[3].position());
    assert_ne!(e[0].session, e[1].session);
    // Without sessions, a thousand requests spread over the interval.
    let lo = (0..1000u64)
        .filter(|&seq| {
            Entry {
                seq,
                session: None,
                ..e[0].clone()
            }
            .position()
                < 0.5
        })
        .count();
    assert!((430..=570).contains(&lo), "{lo}");
}

#[test]
fn headers_drop_credentials_and_framing_unless_kept() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(
        f,
        r#"{{"t":0,"url":"http://prod.example/p?q=1#frag","headers":{{"Cookie":"sid=9","Authorization":"x","Host":"prod","Content-Length":"3","X-A":"1","bad":"a\u0001"}},"session":"s"}}"#
    )
    .unwrap();
    writeln!(f, r#"{{"t":0.5,"url":"/ space/é","name":"mine"}}"#).unwrap();
    writeln!(f, r#"{{"t":1,"url":"no-slash"}}"#).unwrap();
    let mut s = spec(f.path(), Format::Json);
    s.session = SessionKey::Field;
    let r = s.clone().index().unwrap();
    assert_eq!(r.index.names, ["GET /p", "mine"]);
    assert_eq!(r.index.skipped.get(&Skip::BadTarget), Some(&1));
    let e = all(&r);
    assert_eq!(e[0].path, "/p?q=1");
    let names: Vec<&str> = e[0].headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["x-a"]);
    assert_eq!(e[1].path, "/%20space/%C3%A9");
    assert_eq!(e[1].at, Duration::from_millis(500));
    s.keep_headers = vec!["cookie".into()];
    s.session = SessionKey::Cookie("sid".into());
    let r = s.index().unwrap();
    let e = all(&r);
    assert!(
        e[0].headers
            .iter()
            .any(|(n, v)| n == "cookie" && v == "sid=9")
    );
    assert!(e[0].session.is_some());
}

#[test]
fn filters_parse_methods_and_paths() {
    let f = Filter::parse("post ^/api/").unwrap();
    assert!(f.matches("POST", "/api/x"));
    assert!(!f.matches("GET", "/api/x"));
    assert!(!f.matches("POST", "/v1/api/"));
    let f = Filter::parse("/static").unwrap();
    assert!(f.matches("GET", "/static/a"));
    let f = Filter::parse("DELETE").unwrap();
    assert!(f.matches("DELETE", "/x") && !f.matches("GET", "/x"));
    assert!(Filter::parse("/(").is_err());
}

#[test]
fn past_the_most_names_a_method_folds_into_other() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    for i in 0..(MAX_NAMES + 5) {
        writeln!(f, r#"{{"t":{i},"url":"/p{i}x"}}"#).unwrap();
    }
    let r = spec(f.path(), Format::Json).index().unwrap();
    assert_eq!(r.index.names.len(), MAX_NAMES + 1);
    assert_eq!(r.index.names[MAX_NAMES], "GET (other)");
    let e = all(&r);
    assert_eq!(e.len(), MAX_NAMES + 5);
    assert!(e[MAX_NAMES..].iter().all(|e| e.request == MAX_NAMES));
}

#[test]
fn a_folder_gives_each_path_its_body_and_nothing_outside_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("api")).unwrap();
    std::fs::write(dir.path().join("api/orders"), b"{\"n\":1}").unwrap();
    std::fs::write(dir.path().join("secret"), b"no").unwrap();
    let f = log(&[
        ("POST", "/api/orders?x=1", 201),
        ("POST", "/api/other", 201),
        ("PUT", "/api/../secret", 200),
        ("POST", "/api", 201),
    ]);
    let mut s = spec(f.path(), Format::Combined);
    s.bodies = Some(Bodies::new(
        dir.path().join("api").parent().unwrap().to_path_buf(),
    ));
    let r = s.clone().index().unwrap();
    // /api/orders has its file; /api/other has none, and no body is given;
    // /api/../secret is never read; /api is a folder, not a file.
    assert_eq!(r.index.requests, 1);
    assert_eq!(r.index.skipped.get(&Skip::NoBody), Some(&3));
    assert_eq!(&all(&r)[0].body[..], b"{\"n\":1}");
    // With a body besides, the paths without a file take it.
    s.body = Some(Bytes::from_static(b"fallback"));
    let r = s.index().unwrap();
    let bodies: Vec<Vec<u8>> = all(&r).iter().map(|e| e.body.to_vec()).collect();
    assert_eq!(bodies[0], b"{\"n\":1}");
    assert!(bodies[1..].iter().all(|b| b == b"fallback"), "{bodies:?}");
}
