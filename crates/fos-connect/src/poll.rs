//! Polling groups: each group of tags is read on its own interval over one connection, with
//! pacing, reconnect with exponential backoff, and a device that is down at start retried (never
//! fatal). Samples go to a bounded channel, so a slow consumer slows polling (backpressure)
//! instead of growing memory.

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::driver::{Connection, PlanId};
use crate::error::ConnectError;
use crate::sample::{Quality, Sample};
use crate::value::DataType;

/// A set of tags read together every `interval`.
#[derive(Debug, Clone)]
pub struct PollGroup {
    pub name: String,
    pub interval: Duration,
    pub addresses: Vec<String>,
}

/// Exponential backoff between reconnect attempts: `initial`, doubling up to `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff { initial, max, next: initial }
    }

    /// The delay before the next attempt (grows each call).
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_millis(250), Duration::from_secs(30))
    }
}

/// Events a poller reports besides samples, for logs and tests.
#[derive(Debug, Clone, PartialEq)]
pub enum PollEvent {
    Connected,
    ConnectFailed { error: String, retry_in: Duration },
    ConnectionLost { error: String },
}

struct Group {
    group: PollGroup,
    plan: PlanId,
    due: Instant,
}

/// Poll `groups` over `conn` until `stop` turns true or the sample receiver is dropped.
/// Address errors are reported at once (a configuration error); device errors never end the loop.
pub async fn run_poller(
    mut conn: Connection,
    groups: Vec<PollGroup>,
    samples: mpsc::Sender<Sample>,
    events: Option<mpsc::UnboundedSender<PollEvent>>,
    mut backoff: Backoff,
    mut stop: watch::Receiver<bool>,
) -> Result<(), ConnectError> {
    let mut gs = Vec::with_capacity(groups.len());
    for g in groups {
        if g.interval.is_zero() {
            return Err(ConnectError::Other(format!("poll group {:?}: interval must be above zero", g.name)));
        }
        let plan = conn.prepare(&g.addresses)?;
        gs.push(Group { group: g, plan, due: Instant::now() });
    }
    if gs.is_empty() {
        return Ok(());
    }
    let emit = |e: PollEvent| {
        if let Some(tx) = &events {
            let _ = tx.send(e);
        }
    };
    // Bad samples are sent once per outage, not every cycle.
    let mut outage_reported = false;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        if !conn.is_connected() {
            match conn.connect().await {
                Ok(()) => {
                    backoff.reset();
                    outage_reported = false;
                    emit(PollEvent::Connected);
                    tracing::info!(device = %conn.url().endpoint(), "connected");
                }
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(device = %conn.url().endpoint(), error = %e, retry_in = ?delay, "connect failed");
                    emit(PollEvent::ConnectFailed { error: e.to_string(), retry_in: delay });
                    if !outage_reported {
                        outage_reported = true;
                        if !send_bad(&samples, &gs, &e).await {
                            return Ok(());
                        }
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = stop.changed() => {}
                    }
                    continue;
                }
            }
        }
        let i = (0..gs.len()).min_by_key(|&i| gs[i].due).unwrap_or(0);
        let due = gs[i].due;
        tokio::select! {
            _ = tokio::time::sleep_until(due) => {}
            _ = stop.changed() => continue,
        }
        match conn.read(gs[i].plan).await {
            Ok(batch) => {
                for s in batch {
                    if samples.send(s).await.is_err() {
                        return Ok(());
                    }
                }
            }
            Err(e) if e.is_connection_lost() => {
                tracing::warn!(device = %conn.url().endpoint(), error = %e, "connection lost");
                emit(PollEvent::ConnectionLost { error: e.to_string() });
                outage_reported = true;
                if !send_bad(&samples, &gs, &e).await {
                    return Ok(());
                }
                conn.disconnect().await;
            }
            Err(e) => {
                tracing::warn!(device = %conn.url().endpoint(), group = %gs[i].group.name, error = %e, "read failed");
                let g = &gs[i];
                for a in &g.group.addresses {
                    let s = Sample::bad(a.clone(), DataType::F64, Quality::BadDevice, e.to_string());
                    if samples.send(s).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
        // Next cycle on the grid; cycles missed while slow are skipped, never burst.
        let g = &mut gs[i];
        let now = Instant::now();
        g.due += g.group.interval;
        if g.due < now {
            let behind = (now - g.due).as_nanos() / g.group.interval.as_nanos().max(1);
            g.due += g.group.interval * (behind as u32 + 1);
        }
    }
}

async fn send_bad(tx: &mpsc::Sender<Sample>, gs: &[Group], e: &ConnectError) -> bool {
    let q = match e {
        ConnectError::Timeout { .. } => Quality::BadTimeout,
        _ => Quality::BadNotConnected,
    };
    for g in gs {
        for a in &g.group.addresses {
            if tx.send(Sample::bad(a.clone(), DataType::F64, q, e.to_string())).await.is_err() {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let d: Vec<_> = (0..5).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(d, [100, 200, 400, 500, 500]);
        b.reset();
        assert_eq!(b.next_delay().as_millis(), 100);
    }
}
