//! An in-test shop API that journeys need: log in with an account, then a
//! bearer token on every call; list items, view one, order it, read the
//! order back. It refuses an account that is already logged in (two users
//! sharing one account at once), and counts what it saw.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

#[derive(Default)]
pub struct Seen {
    /// Logins per account.
    pub logins: BTreeMap<String, u64>,
    /// Logins refused because the account was in use.
    pub conflicts: u64,
    /// Calls refused for a missing or unknown token.
    pub unauthorized: u64,
    pub orders: u64,
}

#[derive(Default)]
struct Shop {
    passwords: HashMap<String, String>,
    /// token → account
    sessions: Mutex<HashMap<String, String>>,
    /// order id → account
    orders: Mutex<HashMap<u64, String>>,
    seen: Mutex<Seen>,
}

/// The running shop; dropping it stops the server.
pub struct Running {
    pub addr: SocketAddr,
    shop: Arc<Shop>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Running {
    pub fn seen<R>(&self, f: impl FnOnce(&Seen) -> R) -> R {
        f(&self.shop.seen.lock().unwrap())
    }
}

/// The accounts CSV a scenario reads, for `n` accounts.
pub fn accounts_csv(n: usize) -> String {
    let mut s = String::from("user,password\n");
    for i in 0..n {
        s.push_str(&format!("user{i},pw-{i}\n"));
    }
    s
}

/// Starts the shop on its own thread (blocking tests can use it too).
pub fn start(accounts: usize) -> Running {
    let shop = Arc::new(Shop {
        passwords: (0..accounts)
            .map(|i| (format!("user{i}"), format!("pw-{i}")))
            .collect(),
        ..Shop::default()
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = axum::Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/login", post(login))
        .route("/items", get(items))
        .route("/items/{id}", get(item))
        .route("/orders", post(order))
        .route("/orders/{id}", get(read_order))
        .with_state(shop.clone());
    crate::servers::serve_on_own_thread(listener, move |listener| async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Running {
        addr,
        shop,
        _stop: tx,
    }
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (status, Json(json!({ "error": why }))).into_response()
}

async fn login(State(shop): State<Arc<Shop>>, Json(body): Json<Value>) -> Response {
    let user = body["user"].as_str().unwrap_or("");
    let password = body["password"].as_str().unwrap_or("");
    if shop.passwords.get(user).map(String::as_str) != Some(password) {
        return refuse(StatusCode::UNAUTHORIZED, "wrong user or password");
    }
    let mut sessions = shop.sessions.lock().unwrap();
    let mut seen = shop.seen.lock().unwrap();
    if sessions.values().any(|u| u == user) {
        seen.conflicts += 1;
        return refuse(StatusCode::CONFLICT, "account in use by another client");
    }
    let n = seen.logins.entry(user.to_owned()).or_insert(0);
    *n += 1;
    let token = format!("tok-{user}-{n}");
    sessions.insert(token.clone(), user.to_owned());
    Json(json!({ "token": token, "user": user })).into_response()
}

/// The account behind the request's bearer token (None: counted as refused).
fn account(shop: &Shop, headers: &HeaderMap) -> Option<String> {
    let user = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| shop.sessions.lock().unwrap().get(t).cloned());
    if user.is_none() {
        shop.seen.lock().unwrap().unauthorized += 1;
    }
    user
}

fn unauthorized() -> Response {
    refuse(StatusCode::UNAUTHORIZED, "log in first")
}

async fn items(State(shop): State<Arc<Shop>>, headers: HeaderMap) -> Response {
    if account(&shop, &headers).is_none() {
        return unauthorized();
    }
    Json(json!({ "items": [ { "id": 17, "name": "kettle" }, { "id": 23, "name": "lamp" } ] }))
        .into_response()
}

async fn item(State(shop): State<Arc<Shop>>, headers: HeaderMap, Path(id): Path<u64>) -> Response {
    if account(&shop, &headers).is_none() {
        return unauthorized();
    }
    match id {
        17 | 23 => Json(json!({ "id": id, "price": id * 100 })).into_response(),
        _ => refuse(StatusCode::NOT_FOUND, "no such item"),
    }
}

async fn order(
    State(shop): State<Arc<Shop>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let Some(user) = account(&shop, &headers) else {
        return unauthorized();
    };
    if body["item"].as_str() != Some("17") && body["item"].as_str() != Some("23") {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, "no such item");
    }
    let id = {
        let mut seen = shop.seen.lock().unwrap();
        seen.orders += 1;
        seen.orders
    };
    shop.orders.lock().unwrap().insert(id, user);
    (
        StatusCode::CREATED,
        [(header::LOCATION, format!("/orders/{id}"))],
        Json(json!({ "order": { "id": id, "ref": format!("ord-{id}") } })),
    )
        .into_response()
}

async fn read_order(
    State(shop): State<Arc<Shop>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Response {
    let Some(user) = account(&shop, &headers) else {
        return unauthorized();
    };
    // The client must come back to where the order said it lives.
    let at = headers
        .get("x-order-location")
        .and_then(|v| v.to_str().ok());
    if at != Some(format!("/orders/{id}").as_str()) {
        return refuse(StatusCode::BAD_REQUEST, "x-order-location does not match");
    }
    match shop.orders.lock().unwrap().get(&id) {
        Some(owner) if *owner == user => Json(json!({ "id": id, "owner": owner })).into_response(),
        Some(_) => refuse(StatusCode::FORBIDDEN, "not your order"),
        None => refuse(StatusCode::NOT_FOUND, "no such order"),
    }
}
