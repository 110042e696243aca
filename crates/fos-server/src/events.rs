//! Live updates: the [`EventBus`] (a broadcast channel the caller and the server publish to), the
//! [`Event`]s on it, and the watcher that turns changes of the site into events.
//!
//! The watcher keeps a snapshot (every proposal's status, every finding's status, the stop flag, every
//! asset's health level) and publishes what changed: right after each API call that changes the site,
//! and every [`crate::ServerConfig::watch_interval`] for changes made elsewhere (the command line, the
//! demo's pipeline recording findings). `GET /api/events` streams the bus as Server-Sent Events, one
//! JSON object per event (`event:` is its `type`); a client that falls behind gets a `lagged` event and
//! should re-read the lists.

use std::collections::BTreeMap;

use serde::Serialize;
use tokio::sync::broadcast;

use crate::plant::HealthLevel;

/// One change.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A proposal appeared or changed status.
    Proposal {
        /// Id.
        id: String,
        /// Status now.
        status: String,
        /// Status before (none: new).
        previous: Option<String>,
        /// Kind.
        kind: String,
        /// Machine.
        machine: String,
    },
    /// A finding appeared or its challenge state changed.
    Finding {
        /// Id.
        id: String,
        /// `open`, `challenged`, `confirmed`, `disputed`.
        status: String,
        /// Before (none: new).
        previous: Option<String>,
        /// Machine.
        machine: String,
        /// The fault named.
        label: Option<String>,
    },
    /// The gate was stopped or resumed.
    Gate {
        /// Whether it is stopped now.
        halted: bool,
        /// Who stopped it, when stopped.
        by: Option<String>,
        /// Why, when stopped.
        reason: Option<String>,
    },
    /// An asset's health level changed.
    AssetHealth {
        /// The asset.
        asset: String,
        /// The level now.
        health: HealthLevel,
        /// Before.
        previous: Option<HealthLevel>,
    },
    /// Anything else the caller publishes (the demo's scenario steps, the simulator's state).
    Notice {
        /// A short topic.
        topic: String,
        /// Free JSON.
        data: serde_json::Value,
    },
}

impl Event {
    /// The SSE `event:` name.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Proposal { .. } => "proposal",
            Event::Finding { .. } => "finding",
            Event::Gate { .. } => "gate",
            Event::AssetHealth { .. } => "asset_health",
            Event::Notice { .. } => "notice",
        }
    }
}

/// The broadcast channel of [`Event`]s. Cloning shares the channel.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
}

impl EventBus {
    /// A channel that keeps the last `capacity` events for slow subscribers.
    pub fn new(capacity: usize) -> EventBus {
        EventBus { tx: broadcast::channel(capacity.max(1)).0 }
    }

    /// Publishes `e` to every subscriber (none: dropped).
    pub fn publish(&self, e: Event) {
        let _ = self.tx.send(e);
    }

    /// A new subscription, starting now.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}

/// What the watcher last saw.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Snapshot {
    pub(crate) proposals: BTreeMap<String, (String, String, String)>,
    pub(crate) findings: BTreeMap<String, (String, String, Option<String>)>,
    pub(crate) halted: Option<(bool, Option<String>, Option<String>)>,
    pub(crate) health: BTreeMap<String, HealthLevel>,
}

impl Snapshot {
    /// The events that lead from `self` to `now`.
    pub(crate) fn diff(&self, now: &Snapshot) -> Vec<Event> {
        let mut out = Vec::new();
        for (id, (status, kind, machine)) in &now.proposals {
            let before = self.proposals.get(id).map(|p| p.0.clone());
            if before.as_deref() != Some(status.as_str()) {
                out.push(Event::Proposal {
                    id: id.clone(),
                    status: status.clone(),
                    previous: before,
                    kind: kind.clone(),
                    machine: machine.clone(),
                });
            }
        }
        for (id, (status, machine, label)) in &now.findings {
            let before = self.findings.get(id).map(|f| f.0.clone());
            if before.as_deref() != Some(status.as_str()) {
                out.push(Event::Finding {
                    id: id.clone(),
                    status: status.clone(),
                    previous: before,
                    machine: machine.clone(),
                    label: label.clone(),
                });
            }
        }
        if let Some((halted, by, reason)) = &now.halted {
            if self.halted.as_ref().map(|h| h.0) != Some(*halted) {
                out.push(Event::Gate { halted: *halted, by: by.clone(), reason: reason.clone() });
            }
        }
        for (asset, level) in &now.health {
            let before = self.health.get(asset).copied();
            if before != Some(*level) {
                out.push(Event::AssetHealth { asset: asset.clone(), health: *level, previous: before });
            }
        }
        out
    }
}
