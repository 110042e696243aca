//! The routes: JSON in and out, every site operation on a blocking thread, errors as
//! `{"error": "…"}`. Who may call what is decided in one place per rule: a session is required by the
//! [`Authed`] extractor (everything but `/api/health`, `/api/openapi.json`, `/api/login` and the
//! console); the users list is for admins and auditors (here); every other role rule is the site's own
//! (`fos_site`: the gate's policy for approvals, stop and resume; auditors never propose, execute or
//! challenge; verdicts on findings by engineers and approvers), so the API and the command line cannot
//! disagree. The route table with roles is in the crate documentation and in the OpenAPI document.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::handler::Handler;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use axum::{Json, Router};
use fos_site::findings::{FindingDetail, FindingSummary, Outcome};
use fos_site::{ProposeRequest, Proposer, Role, Verdict};
use futures_util::Stream;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;

use crate::auth::{cookie, Authed};
use crate::error::ApiError;
use crate::plant::{self, AssetHealth, AssetInfo};
use crate::state::AppState;

/// JSON request bodies, with a JSON error naming the problem when they do not parse.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| ApiError::bad_request(format!("cannot read the body: {e}")))?;
        parse_body(&bytes).map(Body)
    }
}

fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("the body is not the JSON this route takes: {e}")))
}

/// The routes, recorded as they are added so the OpenAPI test can compare them with the document.
pub(crate) struct Routes {
    methods: BTreeMap<&'static str, MethodRouter<AppState>>,
    list: Vec<(Method, &'static str)>,
}

impl Routes {
    fn new() -> Routes {
        Routes { methods: BTreeMap::new(), list: Vec::new() }
    }

    fn add<H, T>(mut self, method: Method, path: &'static str, handler: H) -> Routes
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = if method == Method::POST { MethodFilter::POST } else { MethodFilter::GET };
        let mr = self.methods.remove(path).unwrap_or_default().on(filter, handler);
        self.methods.insert(path, mr);
        self.list.push((method, path));
        self
    }

    fn get<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Routes {
        self.add(Method::GET, path, handler)
    }

    fn post<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Routes {
        self.add(Method::POST, path, handler)
    }
}

/// Every route of the API.
pub(crate) fn routes() -> Routes {
    Routes::new()
        .get("/", console_index)
        .get("/api/health", health)
        .get("/api/openapi.json", openapi)
        .post("/api/login", login)
        .post("/api/logout", logout)
        .get("/api/me", me)
        .get("/api/users", users)
        .post("/api/users", add_user)
        .get("/api/assets", assets)
        .get("/api/assets/{id}", asset)
        .get("/api/assets/{id}/trend", trend)
        .get("/api/assets/{id}/spectrum", spectrum)
        .get("/api/findings", findings)
        .get("/api/findings/{id}", finding)
        .post("/api/findings/{id}/challenge", challenge)
        .post("/api/findings/{id}/verdict", finding_verdict)
        .get("/api/proposals", proposals)
        .post("/api/proposals", propose)
        .get("/api/proposals/{id}", proposal)
        .post("/api/proposals/{id}/approve", approve)
        .post("/api/proposals/{id}/reject", reject)
        .post("/api/proposals/{id}/reverse", reverse)
        .post("/api/proposals/{id}/execute", execute)
        .get("/api/gate", gate)
        .post("/api/gate/stop", stop)
        .post("/api/gate/resume", resume)
        .get("/api/ledger/checkpoint", checkpoint)
        .get("/api/ledger/records/{index}", record)
        .get("/api/ledger/chain/{id}", chain)
        .get("/api/audit/verify", verify)
        .get("/api/events", events)
}

/// Every route's method and path, as the router has them.
pub fn route_list() -> Vec<(String, String)> {
    routes().list.into_iter().map(|(m, p)| (m.as_str().to_owned(), p.to_owned())).collect()
}

/// The router over `state`: the API, the console's files, JSON 404s.
pub fn router(state: AppState) -> Router {
    let mut r: Router<AppState> = Router::new();
    for (path, mr) in routes().methods {
        r = r.route(path, mr);
    }
    r.fallback(fallback).with_state(state)
}

async fn fallback(State(state): State<AppState>, method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if path.starts_with("/api/") || path == "/api" || method != Method::GET {
        return ApiError::not_found(format!("no route {method} {path}; see /api/openapi.json")).into_response();
    }
    static_file(&state, path)
}

fn static_file(state: &AppState, path: &str) -> Response {
    match state.assets().get(path) {
        Some((content_type, bytes)) => {
            let mut res = (StatusCode::OK, bytes.to_vec()).into_response();
            let h = res.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")));
            h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
            h.insert("x-frame-options", HeaderValue::from_static("DENY"));
            h.insert("content-security-policy", HeaderValue::from_static("frame-ancestors 'none'"));
            res
        }
        None => (StatusCode::NOT_FOUND, format!("no file {path} in the console")).into_response(),
    }
}

async fn console_index(State(state): State<AppState>) -> Response {
    static_file(&state, "/")
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// After a change: publish what changed (an error is logged; the change itself stood).
async fn changed(state: &AppState) {
    if let Err(e) = state.publish_changes().await {
        tracing::warn!(error = %e.message, "cannot publish the change");
    }
}

// ---------------------------------------------------------------------------------------------------
// Public.

#[derive(Debug, Serialize)]
struct HealthOut {
    status: &'static str,
    version: &'static str,
}

async fn health() -> Json<HealthOut> {
    Json(HealthOut { status: "ok", version: env!("CARGO_PKG_VERSION") })
}

async fn openapi() -> Json<serde_json::Value> {
    Json(crate::openapi::document())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginIn {
    user: String,
    password: String,
}

#[derive(Debug, Serialize)]
struct LoginOut {
    token: String,
    user: String,
    role: Role,
    public_key: String,
    expires_at: u64,
}

async fn login(State(state): State<AppState>, Body(body): Body<LoginIn>) -> Result<Response, ApiError> {
    if body.user.is_empty() || body.user.len() > 64 || body.password.len() > 1024 {
        return Err(ApiError::unauthorized(format!("cannot authenticate user {}: invalid user name or password", body.user.chars().take(64).collect::<String>())));
    }
    let LoginIn { user, password } = body;
    let authed = state.blocking(move |s| Ok(s.site().authenticate(&user, &password)?)).await?;
    let out_user = authed.name().to_owned();
    let role = authed.role();
    let public_key = fos_prov::hex(authed.public_key().as_bytes());
    let (token, expires_at) = state.sessions().create(authed)?;
    let cookie = cookie(&token, state.config().session_ttl.as_secs(), state.config().secure_cookie);
    let mut res = Json(LoginOut { token, user: out_user, role, public_key, expires_at }).into_response();
    res.headers_mut().insert(SET_COOKIE, HeaderValue::from_str(&cookie).map_err(ApiError::internal)?);
    res.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

// ---------------------------------------------------------------------------------------------------
// Session.

async fn logout(State(state): State<AppState>, auth: Authed) -> Result<Response, ApiError> {
    state.sessions().remove(&auth.token);
    let mut res = Json(serde_json::json!({"ok": true})).into_response();
    let clear = cookie("", 0, state.config().secure_cookie);
    res.headers_mut().insert(SET_COOKIE, HeaderValue::from_str(&clear).map_err(ApiError::internal)?);
    Ok(res)
}

#[derive(Debug, Serialize)]
struct MeOut {
    user: String,
    role: Role,
    public_key: String,
    expires_at: u64,
}

async fn me(auth: Authed) -> Json<MeOut> {
    Json(MeOut {
        user: auth.user.name().to_owned(),
        role: auth.user.role(),
        public_key: fos_prov::hex(auth.user.public_key().as_bytes()),
        expires_at: auth.expires_at,
    })
}

async fn users(State(state): State<AppState>, auth: Authed) -> ApiResult<Vec<fos_site::UserOut>> {
    if !matches!(auth.user.role(), Role::Admin | Role::Auditor) {
        return Err(ApiError::forbidden(format!(
            "{} is {}; the list of users is for admins and auditors",
            auth.user.name(),
            auth.user.role()
        )));
    }
    state.blocking(|s| Ok(Json(s.site().users()?))).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddUserIn {
    name: String,
    role: Role,
    password: String,
}

async fn add_user(State(state): State<AppState>, auth: Authed, Body(b): Body<AddUserIn>) -> ApiResult<fos_site::UserOut> {
    let user = auth.user.clone();
    state.blocking(move |s| Ok(Json(s.site().add_user(Some(&user), &b.name, b.role, &b.password)?))).await
}

// ---------------------------------------------------------------------------------------------------
// Plant.

/// An asset with its health.
#[derive(Debug, Serialize)]
struct AssetView {
    #[serde(flatten)]
    asset: AssetInfo,
    health: AssetHealth,
}

fn views(state: &AppState, only: Option<&str>) -> Result<Vec<AssetView>, ApiError> {
    let assets: Vec<AssetInfo> = match only {
        Some(id) => vec![state.plant().asset(id).ok_or_else(|| ApiError::not_found(format!("no asset {id}")))?],
        None => state.plant().assets(),
    };
    let states = state.site().finding_states()?;
    let mut health = plant::health(&assets, &states);
    Ok(assets
        .into_iter()
        .map(|a| {
            let h = health.remove(&a.id).unwrap_or(AssetHealth {
                level: plant::HealthLevel::Good,
                attention: 0.0,
                open: 0,
                confirmed: 0,
                disputed: 0,
                latest: None,
            });
            AssetView { asset: a, health: h }
        })
        .collect())
}

async fn assets(State(state): State<AppState>, _auth: Authed) -> ApiResult<Vec<AssetView>> {
    state.blocking(|s| Ok(Json(views(s, None)?))).await
}

async fn asset(State(state): State<AppState>, _auth: Authed, Path(id): Path<String>) -> ApiResult<AssetView> {
    state.blocking(move |s| views(s, Some(&id))?.pop().map(Json).ok_or_else(|| ApiError::not_found("no asset"))).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrendQuery {
    tag: String,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    points: Option<usize>,
}

/// A time as Unix ms or RFC 3339.
fn parse_when(text: &str, what: &str) -> Result<i64, ApiError> {
    if let Ok(ms) = text.trim().parse::<i64>() {
        return Ok(ms);
    }
    fos_prov::parse_time(text)
        .map_err(|e| ApiError::bad_request(format!("{what} {text:?}: {e} (or give Unix milliseconds)")))
        .and_then(|ms| i64::try_from(ms).map_err(|_| ApiError::bad_request(format!("{what} {text:?} is too far in the future"))))
}

async fn trend(
    State(state): State<AppState>,
    _auth: Authed,
    Path(id): Path<String>,
    q: Result<Query<TrendQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<crate::providers::Trend> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(format!("{e}; use ?tag=TAG&from=T&to=T&points=N")))?;
    state
        .blocking(move |s| {
            let a = s.plant().asset(&id).ok_or_else(|| ApiError::not_found(format!("no asset {id}")))?;
            if !a.tags.iter().any(|t| t.tag == q.tag) {
                return Err(ApiError::not_found(format!("asset {id} has no tag {:?}", q.tag)));
            }
            let trends = s.providers().trends.clone().ok_or_else(|| ApiError::not_found("this server has no historian for trends"))?;
            let to = match &q.to {
                Some(t) => parse_when(t, "to")?,
                None => i64::try_from(fos_site::now_ms()).unwrap_or(i64::MAX),
            };
            let from = match &q.from {
                Some(t) => parse_when(t, "from")?,
                None => to - 3_600_000,
            };
            let points = q.points.unwrap_or(s.config().max_points).clamp(1, s.config().max_points);
            trends.trend(&q.tag, from, to, points).map(Json).map_err(|e| match e {
                crate::providers::ProviderError::Invalid(m) => ApiError::bad_request(m),
                other => ApiError::internal(other),
            })
        })
        .await
}

async fn spectrum(State(state): State<AppState>, _auth: Authed, Path(id): Path<String>) -> ApiResult<crate::spectrum::SpectrumView> {
    state
        .blocking(move |s| {
            let a = s.plant().asset(&id).ok_or_else(|| ApiError::not_found(format!("no asset {id}")))?;
            let vib = a.vibration.ok_or_else(|| ApiError::not_found(format!("asset {id} has no vibration channel")))?;
            let source = s.providers().waveforms.clone().ok_or_else(|| ApiError::not_found("this server has no waveform source"))?;
            let block = source
                .latest(&vib.channel)
                .map_err(ApiError::internal)?
                .ok_or_else(|| ApiError::not_found(format!("no waveform block of channel {} yet", vib.channel)))?;
            crate::spectrum::view(&block, &vib, s.config().max_points)
                .map(Json)
                .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.0))
        })
        .await
}

// ---------------------------------------------------------------------------------------------------
// Findings.

async fn findings(State(state): State<AppState>, _auth: Authed) -> ApiResult<Vec<FindingSummary>> {
    state.blocking(|s| Ok(Json(s.site().findings()?))).await
}

async fn finding(State(state): State<AppState>, _auth: Authed, Path(id): Path<String>) -> ApiResult<FindingDetail> {
    state.blocking(move |s| Ok(Json(s.site().finding(&id)?))).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChallengeIn {
    reason: String,
    #[serde(default)]
    alternative: Option<String>,
}

async fn challenge(
    State(state): State<AppState>,
    auth: Authed,
    Path(id): Path<String>,
    Body(b): Body<ChallengeIn>,
) -> ApiResult<fos_site::findings::Appended> {
    let user = auth.user.clone();
    let out = state.blocking(move |s| Ok(s.site().challenge(&user, &id, &b.reason, b.alternative.as_deref())?)).await?;
    changed(&state).await;
    Ok(Json(out))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerdictIn {
    outcome: Outcome,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    reason: String,
}

async fn finding_verdict(
    State(state): State<AppState>,
    auth: Authed,
    Path(id): Path<String>,
    Body(b): Body<VerdictIn>,
) -> ApiResult<fos_site::findings::Appended> {
    let user = auth.user.clone();
    let out =
        state.blocking(move |s| Ok(s.site().finding_verdict(&user, &id, b.outcome, b.label.as_deref(), &b.reason)?)).await?;
    changed(&state).await;
    Ok(Json(out))
}

// ---------------------------------------------------------------------------------------------------
// Proposals and the gate.

async fn proposals(State(state): State<AppState>, _auth: Authed) -> ApiResult<fos_site::ProposalList> {
    state.blocking(|s| Ok(Json(s.site().proposals()?))).await
}

async fn proposal(State(state): State<AppState>, _auth: Authed, Path(id): Path<String>) -> ApiResult<fos_site::ProposalDetail> {
    state.blocking(move |s| Ok(Json(s.site().proposal(&id)?))).await
}

async fn propose(State(state): State<AppState>, auth: Authed, Body(req): Body<ProposeRequest>) -> ApiResult<fos_site::Proposed> {
    let user = auth.user.clone();
    let out = state.blocking(move |s| Ok(s.site().propose(Proposer::Person(&user), &req)?)).await?;
    changed(&state).await;
    Ok(Json(out))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonIn {
    #[serde(default)]
    reason: String,
}

async fn decide(state: AppState, auth: Authed, id: String, verdict: Verdict, body: Bytes) -> ApiResult<fos_site::VerdictOut> {
    let b: ReasonIn = if body.iter().all(u8::is_ascii_whitespace) { ReasonIn::default() } else { parse_body(&body)? };
    let user = auth.user.clone();
    let out = state.blocking(move |s| Ok(s.site().decide(&user, &id, verdict, &b.reason)?)).await?;
    changed(&state).await;
    Ok(Json(out))
}

async fn approve(State(state): State<AppState>, auth: Authed, Path(id): Path<String>, body: Bytes) -> ApiResult<fos_site::VerdictOut> {
    decide(state, auth, id, Verdict::Approve, body).await
}

async fn reject(State(state): State<AppState>, auth: Authed, Path(id): Path<String>, body: Bytes) -> ApiResult<fos_site::VerdictOut> {
    decide(state, auth, id, Verdict::Reject, body).await
}

async fn reverse(State(state): State<AppState>, auth: Authed, Path(id): Path<String>, body: Bytes) -> ApiResult<fos_site::VerdictOut> {
    decide(state, auth, id, Verdict::Reverse, body).await
}

async fn execute(State(state): State<AppState>, auth: Authed, Path(id): Path<String>) -> ApiResult<fos_site::ExecuteOut> {
    let user = auth.user.clone();
    let timeout = state.config().execute_timeout;
    let out = state.blocking(move |s| Ok(s.site().execute(Some(&user), &id, timeout)?)).await?;
    changed(&state).await;
    Ok(Json(out))
}

async fn gate(State(state): State<AppState>, _auth: Authed) -> ApiResult<fos_site::GateStatus> {
    state.blocking(|s| Ok(Json(s.site().gate_status()?))).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StopIn {
    reason: String,
}

async fn stop(State(state): State<AppState>, auth: Authed, Body(b): Body<StopIn>) -> ApiResult<fos_site::StopOut> {
    let user = auth.user.clone();
    let out = state.blocking(move |s| Ok(s.site().stop(&user, &b.reason)?)).await?;
    changed(&state).await;
    Ok(Json(out))
}

async fn resume(State(state): State<AppState>, auth: Authed, Body(b): Body<StopIn>) -> ApiResult<fos_site::ResumeOut> {
    let user = auth.user.clone();
    let out = state.blocking(move |s| Ok(s.site().resume(&user, &b.reason)?)).await?;
    changed(&state).await;
    Ok(Json(out))
}

// ---------------------------------------------------------------------------------------------------
// Ledger and audit.

async fn checkpoint(State(state): State<AppState>, _auth: Authed) -> ApiResult<fos_site::audit::CheckpointOut> {
    state.blocking(|s| s.site().checkpoint()?.map(Json).ok_or_else(|| ApiError::not_found("the ledger is empty"))).await
}

async fn record(State(state): State<AppState>, _auth: Authed, Path(index): Path<String>) -> ApiResult<fos_site::audit::RecordProof> {
    let index: u64 = index
        .trim_start_matches('#')
        .parse()
        .map_err(|_| ApiError::bad_request(format!("record index {index:?} is not a number")))?;
    state.blocking(move |s| Ok(Json(s.site().record_proof(index)?))).await
}

async fn chain(State(state): State<AppState>, _auth: Authed, Path(id): Path<String>) -> ApiResult<fos_site::audit::ChainOut> {
    state.blocking(move |s| Ok(Json(s.site().chain(&id)?))).await
}

async fn verify(State(state): State<AppState>, _auth: Authed) -> ApiResult<fos_site::audit::VerifyOut> {
    state.blocking(|s| Ok(Json(s.site().audit_verify()?))).await
}

// ---------------------------------------------------------------------------------------------------
// Events.

async fn events(State(state): State<AppState>, auth: Authed) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = state.events().subscribe();
    let stopping = state.stopping();
    // The stream keeps the session's key digest only, never the user's signing key.
    let key = auth.key();
    drop(auth);
    let stream = futures_util::stream::unfold((rx, stopping, state, key), |(mut rx, mut stopping, state, key)| async move {
        loop {
            if *stopping.borrow() || !state.sessions().is_live(&key) {
                return None;
            }
            let next = tokio::select! {
                r = rx.recv() => Some(r),
                _ = stopping.changed() => None,
                () = tokio::time::sleep(Duration::from_secs(15)) => None,
            };
            let event = match next {
                None => continue,
                Some(Ok(e)) => SseEvent::default().event(e.name()).json_data(&e).unwrap_or_default(),
                Some(Err(RecvError::Lagged(n))) => SseEvent::default().event("lagged").data(format!("{{\"missed\":{n}}}")),
                Some(Err(RecvError::Closed)) => return None,
            };
            return Some((Ok(event), (rx, stopping, state, key)));
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
