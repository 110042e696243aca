//! [`AppState`]: what every handler shares — the site, the plant, the providers, the console's files,
//! the sessions, the configuration and the event watcher's snapshot. Cheap to clone.

use std::sync::{Arc, Mutex, PoisonError};

use fos_site::Site;
use tokio::sync::watch;

use crate::auth::Sessions;
use crate::config::ServerConfig;
use crate::console::ConsoleAssets;
use crate::error::ApiError;
use crate::events::{EventBus, Snapshot};
use crate::plant::{self, Plant};
use crate::providers::Providers;

/// The shared state of the server.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    site: Arc<Site>,
    plant: Arc<dyn Plant>,
    providers: Providers,
    assets: ConsoleAssets,
    config: ServerConfig,
    sessions: Sessions,
    snapshot: Mutex<Option<Snapshot>>,
    /// Becomes true when the server shuts down (ends the event streams).
    stopping: watch::Sender<bool>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("site", &self.inner.site).field("config", &self.inner.config).finish_non_exhaustive()
    }
}

impl AppState {
    /// The state of a server over `site`, showing `plant`, reading `providers`, serving `assets`.
    pub fn new(
        config: ServerConfig,
        site: Arc<Site>,
        plant: Arc<dyn Plant>,
        providers: Providers,
        assets: ConsoleAssets,
    ) -> AppState {
        let sessions = Sessions::new(config.session_ttl);
        AppState {
            inner: Arc::new(Shared {
                site,
                plant,
                providers,
                assets,
                config,
                sessions,
                snapshot: Mutex::new(None),
                stopping: watch::channel(false).0,
            }),
        }
    }

    /// The site.
    pub fn site(&self) -> &Arc<Site> {
        &self.inner.site
    }

    /// The plant.
    pub fn plant(&self) -> &Arc<dyn Plant> {
        &self.inner.plant
    }

    /// The providers.
    pub fn providers(&self) -> &Providers {
        &self.inner.providers
    }

    /// The event channel (publish the caller's own events here).
    pub fn events(&self) -> &EventBus {
        &self.inner.providers.events
    }

    /// The console's files.
    pub fn assets(&self) -> &ConsoleAssets {
        &self.inner.assets
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// Live sessions.
    pub fn sessions_live(&self) -> usize {
        self.inner.sessions.len()
    }

    pub(crate) fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }

    /// Ends every event stream (the server is shutting down).
    pub(crate) fn stop_streams(&self) {
        let _ = self.inner.stopping.send(true);
    }

    /// A receiver that changes to true when the server shuts down.
    pub(crate) fn stopping(&self) -> watch::Receiver<bool> {
        self.inner.stopping.subscribe()
    }

    /// Runs `f` on the site on a blocking thread (site operations do file I/O, fsync and argon2).
    pub(crate) async fn blocking<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
    {
        let state = self.clone();
        tokio::task::spawn_blocking(move || f(&state)).await.map_err(|e| ApiError::internal(format!("a worker failed: {e}")))?
    }

    /// Looks at the site now and publishes every change since the last look (see [`crate::events`]).
    /// The first look publishes nothing. Returns how many events were published.
    pub async fn publish_changes(&self) -> Result<usize, ApiError> {
        self.blocking(|s| s.publish_changes_blocking()).await
    }

    /// [`AppState::publish_changes`] on the calling (blocking) thread.
    pub fn publish_changes_blocking(&self) -> Result<usize, ApiError> {
        let now = self.snapshot_now()?;
        let mut held = self.inner.snapshot.lock().unwrap_or_else(PoisonError::into_inner);
        let events = match held.as_ref() {
            Some(before) => before.diff(&now),
            None => Vec::new(),
        };
        *held = Some(now);
        let n = events.len();
        for e in events {
            self.events().publish(e);
        }
        Ok(n)
    }

    fn snapshot_now(&self) -> Result<Snapshot, ApiError> {
        let site = self.site();
        let proposals = site.proposals()?;
        let states = site.finding_states()?;
        let assets = self.plant().assets();
        let health = plant::health(&assets, &states);
        Ok(Snapshot {
            proposals: proposals
                .proposals
                .iter()
                .map(|p| (p.id.clone(), (p.status.as_str().to_owned(), p.kind.clone(), p.machine.clone())))
                .collect(),
            findings: states
                .iter()
                .map(|f| (f.id.clone(), (f.status.to_owned(), f.finding.machine.clone(), f.finding.label.clone())))
                .collect(),
            halted: Some((
                proposals.halted,
                proposals.halt.as_ref().map(|h| h.by.clone()),
                proposals.halt.as_ref().map(|h| h.reason.clone()),
            )),
            health: health.into_iter().map(|(k, v)| (k, v.level)).collect(),
        })
    }
}
