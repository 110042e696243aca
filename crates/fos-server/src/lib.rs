//! `fos-server`: the FOS HTTP API over a [`fos_site::Site`] — JSON in and out, sessions from the
//! gate's users, Server-Sent Events, the OpenAPI 3.1 document, and the console's static files.
//!
//! ```no_run
//! use std::sync::Arc;
//! use fos_server::{serve, ConsoleAssets, EventBus, Providers, ServerConfig, StaticPlant};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let site = Arc::new(fos_site::Site::open("fos-data".as_ref(), false)?);
//! let plant = Arc::new(StaticPlant(vec![])); // or the simulator, or a configured plant
//! let providers = Providers::new().with_trends(Arc::new(fos_server::HistorianTrends::new("fos-data")));
//! let events: EventBus = providers.events.clone(); // publish the caller's own events here
//! let config = ServerConfig { bind: "127.0.0.1:0".parse()?, ..ServerConfig::default() };
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let running = serve(config, site, plant, providers, ConsoleAssets::placeholder(), async {
//!     let _ = stopped.await; // e.g. Ctrl-C
//! })
//! .await?;
//! println!("console at http://{}/", running.addr());
//! # drop(stop);
//! running.wait().await?;
//! # Ok(()) }
//! ```
//!
//! **Routes and roles.** Public: `GET /`, `GET /api/health`, `GET /api/openapi.json`, `POST /api/login`.
//! Everything else needs a session (401 otherwise). Role rules come from the site (the gate's policy
//! file and the findings rules), the users list is the server's own:
//!
//! | route | who |
//! | --- | --- |
//! | `POST /api/logout`, `GET /api/me` | any role |
//! | `GET /api/users` | admin, auditor |
//! | `POST /api/users` | admin |
//! | `GET /api/assets`, `/api/assets/{id}`, `…/trend`, `…/spectrum` | any role |
//! | `GET /api/findings`, `/api/findings/{id}` | any role |
//! | `POST /api/findings/{id}/challenge` | any role but auditor |
//! | `POST /api/findings/{id}/verdict` | engineer, approver; not the person whose challenge is open |
//! | `GET /api/proposals`, `/api/proposals/{id}` | any role |
//! | `POST /api/proposals` | any role but auditor (the person is the proposer) |
//! | `POST /api/proposals/{id}/approve`, `reject`, `reverse` | policy `approvals.roles` (default approver, engineer), safety-critical `approvals.safety_critical_roles` (engineer); never the proposer; signed with the user's key |
//! | `POST /api/proposals/{id}/execute` | any role but auditor; only an approved proposal, while the gate runs |
//! | `GET /api/gate` | any role |
//! | `POST /api/gate/stop` | policy `stop.halt_roles` (operator, approver, engineer, admin) |
//! | `POST /api/gate/resume` | policy `stop.resume_roles` (approver, engineer) |
//! | `GET /api/ledger/checkpoint`, `/api/ledger/records/{index}`, `/api/ledger/chain/{id}`, `/api/audit/verify` | any role |
//! | `GET /api/events` | any role (the stream ends with the session) |
//!
//! **Architecture invariants.** Only this crate knows HTTP and JSON wire types. Every site operation
//! runs on a blocking thread (`fos_site` does file I/O, fsync and argon2). A session holds the user's
//! unlocked signing key in memory only, and a request acts as exactly the user of its token.

// The OpenAPI document's schemas are one `serde_json::json!` literal, deeper than the default limit.
#![recursion_limit = "256"]

mod api;
mod auth;
pub mod config;
pub mod console;
pub mod error;
pub mod events;
pub mod openapi;
pub mod plant;
pub mod providers;
pub mod spectrum;
mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use fos_site::Site;
use tokio::task::JoinHandle;

pub use api::{route_list, router, Body};
pub use auth::{Authed, COOKIE_NAME};
pub use config::ServerConfig;
pub use console::ConsoleAssets;
pub use error::{ApiError, ServerError};
pub use events::{Event, EventBus};
pub use plant::{AssetHealth, AssetInfo, HealthLevel, Plant, StaticPlant, TagInfo, VibrationInfo};
pub use providers::{HistorianTrends, LatestBlocks, ProviderError, Providers, Trend, TrendPoint, TrendSource, WaveformSource};
pub use state::AppState;

/// A running server.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    state: AppState,
    task: JoinHandle<Result<(), ServerError>>,
    watcher: JoinHandle<()>,
}

impl Running {
    /// The address it listens on (the port chosen when the configuration said 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its state (the site, the event channel).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The event channel.
    pub fn events(&self) -> &EventBus {
        self.state.events()
    }

    /// Waits until the server has shut down (after the `shutdown` future given to [`serve`] completed
    /// and the open requests finished; event streams end at once).
    pub async fn wait(self) -> Result<(), ServerError> {
        let out = self.task.await.map_err(|e| ServerError::Task(e.to_string()))?;
        let _ = self.watcher.await;
        out
    }
}

/// Binds `config.bind`, starts serving the API over `site` (showing `plant`, reading `providers`,
/// serving the console's `assets`) and returns at once with the bound address. When `shutdown`
/// completes the server stops accepting connections, ends the event streams, lets open requests finish,
/// and [`Running::wait`] returns.
pub async fn serve(
    config: ServerConfig,
    site: Arc<Site>,
    plant: Arc<dyn Plant>,
    providers: Providers,
    assets: ConsoleAssets,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, ServerError> {
    let listener =
        tokio::net::TcpListener::bind(config.bind).await.map_err(|source| ServerError::Bind { addr: config.bind, source })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Bind { addr: config.bind, source })?;
    let watch_every = config.watch_interval;
    let state = AppState::new(config, site, plant, providers, assets);
    // The first look: later looks publish what changed since.
    state.publish_changes().await.map_err(|e| ServerError::Task(e.message))?;
    let watcher = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(watch_every.max(std::time::Duration::from_millis(100)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut stopping = state.stopping();
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    // The server is shutting down (or its state is gone): stop looking.
                    _ = stopping.changed() => break,
                }
                if let Err(e) = state.publish_changes().await {
                    tracing::warn!(error = %e.message, "the event watcher cannot read the site");
                }
            }
        })
    };
    let app = router(state.clone());
    let stopping = state.clone();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                stopping.stop_streams();
            })
            .await
            .map_err(ServerError::Serve)
    });
    tracing::info!(%addr, "FOS API listening");
    Ok(Running { addr, state, task, watcher })
}
