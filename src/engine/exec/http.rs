//! One HTTP request of the scenario: the first exchange (sent again once on
//! a new connection if the kept-alive one was found closed), a Digest
//! challenge answered, the cookies it sets, the redirects it leads to (one
//! request, its time the whole chain's, as browsers count it), then the
//! checks and captures on the final answer, decoded if it came compressed.

use std::sync::atomic::Ordering;

use super::{Carried, Failed, Parts, Requests, Sent, UserState};
use crate::client::answer::{BodySink, Keep};
use crate::client::answer::{Headers, HttpAnswer};
use crate::client::body::EXCERPT;
use crate::client::check;
use crate::client::decode::{self, Encoding};
use crate::client::digest;
use crate::client::http::HttpTarget;
use crate::client::redirect;
use crate::engine::capture;
use crate::engine::http_request::{self, Answered, FixedHttp, Given, HttpRequest, Route};
use crate::scenario::{Auth, HttpSpec, RequestSpec, Scenario};
use crate::stats::{Failure, FailureKind};

/// What one request brings beyond its scenario's spec: a sink its answer's
/// body goes to as it comes (an event stream), or its own path, headers
/// and body (a replayed request).
#[derive(Clone, Copy, Default)]
pub(super) struct With<'a> {
    pub sink: Option<&'a dyn BodySink>,
    pub given: Option<Given<'a>>,
}

/// The final answer of a chain: the bytes the whole chain wrote, the answer
/// (its `received` the whole chain's), and the URL of its request when it
/// was worked out (cookies or redirects needed it).
struct Chain {
    sent: u64,
    answer: HttpAnswer,
    url: Option<url::Url>,
}

/// What the request to the home target needs beyond the scenario's.
#[derive(Clone, Copy)]
struct HomeRoute<'a> {
    target: usize,
    path: &'a str,
    /// Whether the path was rendered (else the static one is sent).
    templated: bool,
    /// Whether the jar's `Cookie` goes.
    with_cookie: bool,
}

impl Requests {
    /// One HTTP request of the scenario, to HTTP target `target`.
    pub(super) async fn send_http(
        &self,
        spec: &RequestSpec,
        target: usize,
        fixed: &FixedHttp,
        h: &HttpSpec,
        user: &mut UserState,
        with: With<'_>,
    ) -> Sent {
        let With { sink, given } = with;
        // An event stream's checks and captures read its events, not the
        // body (`sse.rs`): of the body, enough for a failure's detail.
        let needs_body =
            sink.is_none() && (spec.check.needs_body() || capture::needs_body(&spec.captures));
        let req = HttpRequest {
            h,
            fixed,
            keep: Keep {
                headers: capture::needs_headers(&spec.captures),
                // Only what checks and captures read is kept whole;
                // otherwise enough for a failure's detail.
                body: if needs_body {
                    h.max_body
                } else {
                    EXCERPT.min(h.max_body)
                },
                sink,
            },
            given,
        };
        // The path is rendered once, for the request and for the URL that
        // cookies and redirects are resolved against; its buffer is the
        // user's, lent for the request.
        let mut path = std::mem::take(&mut user.path);
        let result = self.send_http_on(spec, target, req, user, &mut path).await;
        user.path = path;
        result
    }

    async fn send_http_on(
        &self,
        spec: &RequestSpec,
        target: usize,
        req: HttpRequest<'_>,
        user: &mut UserState,
        path: &mut String,
    ) -> Sent {
        let HttpRequest { h, fixed, .. } = req;
        if fixed.static_path().is_none() && req.given.is_none() {
            let mut ctx = user.render_ctx(&self.scenario.data);
            http_request::render_path(h, &mut ctx, path)?;
        }
        let path = match req.given {
            Some(g) => g.path,
            None => fixed.static_path().unwrap_or(path),
        };
        let Chain { sent, answer, url } = self.exchange_chain(target, req, user, path).await?;
        user.first_byte = Some(answer.first_byte);
        user.protocol = Some(answer.protocol);
        if let Some(c) = user.copy.as_deref_mut() {
            c.status = Some(answer.status);
        }
        let r = answer.received;
        let failed = |f| Failed::new(sent, r, f);
        if let Some(want) = req.given.and_then(|g| g.expect)
            && answer.status != want
        {
            return Err(failed(status_differs(answer.status, want)));
        }
        // The body as checks read it: decoded when it came encoded.
        let coded = match answer.encoding {
            Encoding::Coded(c) => Some(c),
            _ => None,
        };
        if let Err(f) = check::http_status(&spec.check, answer.status, &answer.body.kept) {
            // The failure's detail is the start of the body as text.
            let f = match coded {
                Some(c) => match decode::decode(c, &answer.body.kept, true, EXCERPT) {
                    Ok(d) => f.with_detail(check::excerpt(&d.bytes)),
                    Err(_) => f.with_detail(format!("({} body)", c.token())),
                },
                None => f,
            };
            return Err(failed(f));
        }
        let needs_body = spec.check.needs_body() || capture::needs_body(&spec.captures);
        if req.keep.sink.is_some() || (!needs_body && spec.captures.is_empty()) {
            return Ok(Carried::new(sent, r));
        }
        let (body, truncated) = match coded {
            Some(c) if needs_body => {
                let d = decode::decode(c, &answer.body.kept, answer.body.truncated(), h.max_body)
                    .map_err(failed)?;
                (d.bytes, d.truncated)
            }
            _ => (answer.body.kept.clone(), answer.body.truncated()),
        };
        check::body(&spec.check, &body, truncated, None).map_err(failed)?;
        if !spec.captures.is_empty() {
            // The URL cookies are matched against: the last hop's.
            let url = match url {
                Some(u) => Some(u),
                None if capture::needs_cookies(&spec.captures) => {
                    let (t, _) = self.http_target(target).map_err(failed)?;
                    let authority = fixed.host().unwrap_or(t.authority.as_str());
                    url::Url::parse(&format!("{}://{authority}{path}", t.scheme)).ok()
                }
                None => None,
            };
            let seen = capture::Answer {
                body: &body,
                json: None,
                truncated,
                headers: &answer.headers,
                cookies: user.jar.as_deref().zip(url.as_ref()),
            };
            capture::apply(&spec.captures, &self.scenario.vars, &seen, &mut user.vars)
                .map_err(failed)?;
        }
        Ok(Carried::new(sent, r))
    }

    /// Sends the request and follows its redirects.
    async fn exchange_chain(
        &self,
        target: usize,
        req: HttpRequest<'_>,
        user: &mut UserState,
        path: &str,
    ) -> Result<Chain, Failed> {
        let HttpRequest { h, fixed, .. } = req;
        let (t, _) = self.http_target(target).map_err(Failed::bare)?;
        let jar_on = h.cookies && !fixed.own_cookie();
        // The URL the jar and redirects see: the scenario's Host is the
        // origin it names.
        let home_url = || {
            let authority = fixed.host().unwrap_or(t.authority.as_str());
            url::Url::parse(&format!("{}://{authority}{path}", t.scheme)).ok()
        };
        let mut url: Option<url::Url> = None;
        let with_cookie = jar_on && user.jar.as_ref().is_some_and(|j| !j.is_empty());
        if with_cookie {
            url = home_url();
            if let (Some(u), Some(jar)) = (&url, &user.jar)
                && !jar.header_into(u, &mut user.cookie)
            {
                user.cookie.clear();
            }
        }
        let home = HomeRoute {
            target,
            path,
            templated: fixed.static_path().is_none() || req.given.is_some(),
            with_cookie,
        };
        let Answered {
            mut sent,
            mut answer,
        } = self.send_answering(req, user, &home).await?;
        let mut received = answer.received;
        let mut method = h.method.clone();
        let mut hops = 0u32;
        let mut at_home = true;
        loop {
            let sets_cookie = jar_on && has(&answer.headers, "set-cookie");
            let redirects = h.follow_redirects > 0 && redirect::is_redirect(answer.status);
            if !sets_cookie && !redirects {
                break;
            }
            if url.is_none() {
                url = home_url();
            }
            let Some(from) = url.take() else {
                break;
            };
            if sets_cookie {
                let dropped = user
                    .jar
                    .get_or_insert_with(Box::default)
                    .store(&from, &answer.headers);
                if dropped > 0 {
                    self.cookies_dropped.fetch_add(dropped, Ordering::Relaxed);
                }
            }
            if !redirects {
                url = Some(from);
                break;
            }
            let location = answer.headers.get("location");
            let next = redirect::next(answer.status, &method, location.as_deref(), &from)
                .map_err(|f| Failed::new(sent, received, f))?;
            let Some(next) = next else {
                url = Some(from);
                break;
            };
            hops += 1;
            if hops > h.follow_redirects {
                let f = redirect::too_many(h.follow_redirects, &next.url);
                return Err(Failed::new(sent, received, f));
            }
            let base = origin(&next.url);
            at_home = at_home && base == t.base;
            let so_far = Carried::new(sent, received);
            let hop = Hop {
                next: &next,
                base: &base,
                home: at_home,
                jar_on,
            };
            // Boxed: a chain is the exception; its state need not be part
            // of every request's future.
            let a = Box::pin(self.hop(req, user, hop))
                .await
                .map_err(|f| f.after(so_far))?;
            sent = sent.saturating_add(a.sent);
            received = received.saturating_add(a.answer.received);
            answer = a.answer;
            method = next.method;
            url = Some(next.url);
        }
        answer.received = received;
        Ok(Chain { sent, answer, url })
    }

    /// The request to its home target, and its Digest challenge answered.
    /// A challenge this user met on this target is answered at once, as
    /// requests' HTTPDigestAuth answers it: only the first request pays the
    /// challenge's round trip. Credentials from the URL (Basic) answer a
    /// challenge only when one comes, as curl's --anyauth does: the
    /// target's other paths may want Basic.
    async fn send_answering(
        &self,
        req: HttpRequest<'_>,
        user: &mut UserState,
        home: &HomeRoute<'_>,
    ) -> Result<Answered, Failed> {
        let h = req.h;
        let authorization = match h.auth {
            Some(Auth::Digest { .. }) => {
                digest_answer(&self.scenario, h, user, home.target, home.path)
            }
            _ => None,
        };
        let first = self
            .send_home(req, user, home, authorization.as_deref())
            .await?;
        if first.answer.status != 401
            || !matches!(h.auth, Some(Auth::Basic { .. } | Auth::Digest { .. }))
        {
            return Ok(first);
        }
        let mut offered = Vec::new();
        first.answer.headers.for_each("www-authenticate", |v| {
            offered.push(String::from_utf8_lossy(v).into_owned());
        });
        match digest::find(&offered) {
            None => Ok(first),
            Some(Err(why)) => {
                let f = Failure::new(
                    FailureKind::Status,
                    "HTTP 401 with a Digest challenge volley cannot answer",
                )
                .with_detail(why);
                Err(Failed::new(first.sent, first.answer.received, f))
            }
            Some(Ok(challenge)) => {
                // Answered once: a second 401 is the answer.
                let state = digest::DigestState::new(challenge);
                match user.digest.iter_mut().find(|(t, _)| *t == home.target) {
                    Some(slot) => slot.1 = state,
                    None => user.digest.push((home.target, state)),
                }
                let authorization = digest_answer(&self.scenario, h, user, home.target, home.path);
                let before = Carried::new(first.sent, first.answer.received);
                // Boxed: a challenge is the exception.
                let mut second =
                    Box::pin(self.send_home(req, user, home, authorization.as_deref()))
                        .await
                        .map_err(|f| f.after(before))?;
                second.sent = before.sent.saturating_add(second.sent);
                second.answer.received = before.received.saturating_add(second.answer.received);
                Ok(second)
            }
        }
    }

    /// Sends the request over the user's own connection to `home.target`
    /// (opened when it has none), once more on a new connection if the
    /// kept-alive one was found closed as it went out.
    async fn send_home(
        &self,
        req: HttpRequest<'_>,
        user: &mut UserState,
        home: &HomeRoute<'_>,
        authorization: Option<&str>,
    ) -> Result<Answered, Failed> {
        let (t, _) = self.http_target(home.target).map_err(Failed::bare)?;
        let mut retried = false;
        let id = user.id;
        // A `version = "auto"` target reads its answers' Alt-Svc until one
        // offers HTTP/3.
        let listening = t.listens_for_alt_svc();
        let mut req = req;
        req.keep.headers |= listening;
        loop {
            let Parts {
                conns,
                mut ctx,
                scratch,
                cookie,
                sent_now,
                copy,
            } = user.parts(&self.scenario.data);
            let conn = self.http_conn(home.target, id, conns).await?;
            let route = Route {
                method: &req.h.method,
                target: t,
                path: home.templated.then_some(home.path),
                body: true,
                home: true,
                cookie: (home.with_cookie && !cookie.is_empty()).then_some(cookie),
                authorization,
            };
            *sent_now = 0;
            let result =
                http_request::send(req, &route, conn, &mut ctx, scratch, sent_now, copy).await;
            if listening && let Ok(a) = &result {
                t.read_alt_svc(&a.answer.headers);
            }
            match result {
                // The server closed this kept-alive connection as the
                // request went out (no byte of an answer): it goes again,
                // once, on a new connection, as browsers and Go's client
                // do; counted as a retry, not a failure.
                Err(_) if !retried && conn.failed_stale(req.h.method.is_idempotent()) => {
                    retried = true;
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    user.conns[home.target] = None;
                }
                other => return other,
            }
        }
    }

    /// One redirect hop: to a target of the scenario over the user's own
    /// connection to it, elsewhere over a connection made for it.
    async fn hop(
        &self,
        req: HttpRequest<'_>,
        user: &mut UserState,
        hop: Hop<'_>,
    ) -> Result<Answered, Failed> {
        let next = hop.next;
        let path = &next.url[url::Position::BeforePath..url::Position::AfterQuery];
        let path = if path.is_empty() { "/" } else { path };
        let with_cookie = hop.jar_on
            && user
                .jar
                .as_ref()
                .is_some_and(|j| j.header_into(&next.url, &mut user.cookie));
        let mut transient = None;
        let slot = self
            .http_index
            .get(&super::prepare::target_key(hop.base, req.h.version))
            .copied();
        let other = match slot {
            Some(_) => None,
            None => Some(self.other_target(req.h, hop.base)?),
        };
        let t: &HttpTarget = match (slot, &other) {
            (Some(i), _) => self.http_target(i).map_err(Failed::bare)?.0,
            (None, Some(o)) => o,
            // other_target made one or returned the error.
            (None, None) => {
                let f = Failure::new(FailureKind::Internal, "no target for the redirect");
                return Err(Failed::bare(f));
            }
        };
        let id = user.id;
        let Parts {
            conns,
            mut ctx,
            scratch,
            cookie,
            sent_now,
            ..
        } = user.parts(&self.scenario.data);
        let conn = match slot {
            Some(i) => self.http_conn(i, id, conns).await?,
            None => transient.insert(Box::pin(t.connect()).await.map_err(Failed::bare)?),
        };
        let route = Route {
            method: &next.method,
            target: t,
            path: Some(path),
            body: next.body,
            home: hop.home,
            cookie: with_cookie.then_some(cookie),
            // A hop is not answered with Digest: its challenge would be
            // another origin's or another path's.
            authorization: None,
        };
        let mut hop_sent = 0;
        let result =
            http_request::send(req, &route, conn, &mut ctx, scratch, &mut hop_sent, None).await;
        *sent_now = sent_now.saturating_add(hop_sent);
        result
    }
}

/// Where a redirect hop goes.
#[derive(Clone, Copy)]
struct Hop<'a> {
    next: &'a redirect::Hop,
    /// Its origin, as the scenario's base URLs are written.
    base: &'a str,
    /// Whether every hop so far stayed on the request's own target.
    home: bool,
    jar_on: bool,
}

/// The `Authorization` answering the Digest challenge `user` keeps for
/// `target`, for this request (its method and `path`); None without one
/// or without credentials.
fn digest_answer(
    scenario: &Scenario,
    h: &HttpSpec,
    user: &mut UserState,
    target: usize,
    path: &str,
) -> Option<String> {
    let at = user.digest.iter().position(|(t, _)| *t == target)?;
    let (name, password) = http_request::credentials(h, &mut user.render_ctx(&scenario.data))?;
    let cnonce = format!("{:016x}", rand::Rng::random::<u64>(&mut user.rng));
    let (_, state) = user.digest.get_mut(at)?;
    Some(state.authorization(h.method.as_str(), path, &name, &password, &cnonce))
}

/// Whether an answer has header `name`.
fn has(headers: &Headers, name: &str) -> bool {
    let mut found = false;
    headers.for_each(name, |_| found = true);
    found
}

/// `scheme://host[:port]` of a URL, as the scenario's base URLs are written
/// (the port left out when it is the scheme's default).
fn origin(u: &url::Url) -> String {
    let host = u.host_str().unwrap_or("");
    match u.port() {
        Some(p) => format!("{}://{host}:{p}", u.scheme()),
        None => format!("{}://{host}", u.scheme()),
    }
}

/// A replayed request answered with another status than the source's
/// server gave: the reason names both, so that the report groups them
/// (`HTTP 404 Not Found where the source had 200`).
fn status_differs(got: u16, want: u16) -> Failure {
    let reason = http::StatusCode::from_u16(got)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map_or_else(|| format!("HTTP {got}"), |r| format!("HTTP {got} {r}"));
    Failure::new(
        FailureKind::Status,
        format!("{reason} where the source had {want}"),
    )
}
