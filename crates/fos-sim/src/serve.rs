//! The adapter: a plant run at `speed` × real time in a tokio task and served over Modbus TCP
//! ([`modbus`], feature `modbus`) and OPC UA ([`opcua`], feature `opcua`), both on configurable
//! addresses (port 0 = any free port; the bound addresses are reported).
//!
//! # Time
//!
//! Every [`ServeOptions::tick`] of real time the plant task steps the plant to
//! `t₀ + speed·(real time since start)` in a blocking thread (so the runtime is never stalled by
//! physics), renders the latest vibration block of every motor that took a new one (on all cores),
//! and publishes a [`Frame`]. At most one block per motor is rendered per tick: at a high speed the sequence
//! number jumps over the blocks that were not published. When a step would have to advance more
//! than ten ticks' worth (the machine cannot keep up), the plant advances ten and the simulated
//! clock falls behind; [`Frame::behind_s`] says by how much.
//!
//! # Data path
//!
//! The published frame is the single source of both servers' reads; a client's write goes to the
//! plant under its lock and a new frame is published before the write is acknowledged, so a read
//! after a write sees it. Source timestamps are the real (wall-clock) time of the frame; the
//! simulated time is the `ambient.sim_time_s` point.
//!
//! # Shutdown
//!
//! [`Simulator::shutdown`] stops the plant task and both servers (open connections are closed) and
//! waits for them. Dropping a [`Simulator`] without it stops everything without waiting.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::SimError;
use crate::layout::PlantLayout;
use crate::motor::BlockSpec;
use crate::plant::Plant;

#[cfg(feature = "modbus")]
pub mod modbus;
#[cfg(feature = "opcua")]
pub mod opcua;

/// Options of the OPC UA server.
#[derive(Debug, Clone, PartialEq)]
pub struct OpcUaOptions {
    /// Address to bind (port 0: any free port). Default `127.0.0.1:4840`.
    pub addr: SocketAddr,
    /// Host name written in the endpoint URLs the server advertises (default: the bound IP).
    pub host: Option<String>,
    /// Folder of the server's PKI (created if missing; no key pair is made: only SecurityPolicy
    /// None is offered). Default `$TMPDIR/fos-sim-pki`.
    pub pki_dir: PathBuf,
}

impl Default for OpcUaOptions {
    fn default() -> Self {
        OpcUaOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 4840)),
            host: None,
            pki_dir: std::env::temp_dir().join("fos-sim-pki"),
        }
    }
}

/// How to run and serve the plant. Defaults: real time (speed 1), a 100 ms tick, Modbus on
/// `127.0.0.1:5020`, OPC UA on `127.0.0.1:4840`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeOptions {
    /// Simulated seconds per real second (> 0, at most 10 000).
    pub speed: f64,
    /// Real time between plant steps (1 ms – 10 s).
    pub tick: Duration,
    /// Modbus TCP address, or None for no Modbus server.
    pub modbus: Option<SocketAddr>,
    /// OPC UA options, or None for no OPC UA server.
    pub opcua: Option<OpcUaOptions>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            speed: 1.0,
            tick: Duration::from_millis(100),
            modbus: Some(SocketAddr::from(([127, 0, 0, 1], 5020))),
            opcua: Some(OpcUaOptions::default()),
        }
    }
}

impl ServeOptions {
    /// Both servers on `127.0.0.1` with any free port (what tests and `fos demo` want).
    pub fn any_port() -> ServeOptions {
        ServeOptions {
            modbus: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            opcua: Some(OpcUaOptions { addr: SocketAddr::from(([127, 0, 0, 1], 0)), ..OpcUaOptions::default() }),
            ..ServeOptions::default()
        }
    }

    fn validate(&self) -> Result<(), SimError> {
        if !(self.speed.is_finite() && self.speed > 0.0 && self.speed <= 10_000.0) {
            return Err(SimError::config("speed", format!("must be in (0, 10000], got {}", self.speed)));
        }
        if !(Duration::from_millis(1)..=Duration::from_secs(10)).contains(&self.tick) {
            return Err(SimError::config("tick", format!("must be between 1 ms and 10 s, got {:?}", self.tick)));
        }
        Ok(())
    }
}

/// One rendered vibration block.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Sequence number (1 for the asset's first block).
    pub seq: u64,
    /// Simulated time at its end, s.
    pub t_end_s: f64,
    /// Sample rate, Hz.
    pub fs_hz: f64,
    /// The true shaft frequency during the block, Hz (ground truth, not served).
    pub shaft_hz: f64,
    /// Samples, m/s².
    pub samples: Vec<f64>,
}

/// What the servers publish: the plant at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Simulated time, s.
    pub t_s: f64,
    /// Real time of the frame (the source timestamp of every value).
    pub wall: SystemTime,
    /// Every point's value, in [`PlantLayout::points`] order.
    pub values: Vec<f64>,
    /// The latest block of each asset, by asset index (None: not a motor, or none yet).
    pub blocks: Vec<Option<Arc<Block>>>,
    /// How far the simulated clock is behind `speed` × real time, s (0 when keeping up).
    pub behind_s: f64,
}

impl Frame {
    /// A point's value by name.
    pub fn value(&self, layout: &PlantLayout, asset: &str, point: &str) -> Option<f64> {
        layout.point(asset, point).and_then(|k| self.values.get(k).copied())
    }
}

/// State shared by the plant task and the servers.
#[derive(Debug)]
pub(crate) struct Shared {
    plant: Mutex<Plant>,
    pub(crate) layout: Arc<PlantLayout>,
    frames: watch::Sender<Arc<Frame>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Plant> {
        self.plant.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The latest frame.
    pub(crate) fn frame(&self) -> Arc<Frame> {
        self.frames.borrow().clone()
    }

    /// Publishes the plant's values now, with `blocks` (or the previous frame's).
    fn publish(&self, plant: &Plant, blocks: Option<Vec<Option<Arc<Block>>>>, behind_s: Option<f64>) {
        let prev = self.frame();
        let frame = Frame {
            t_s: plant.time_s(),
            wall: SystemTime::now(),
            values: plant.values(),
            blocks: blocks.unwrap_or_else(|| prev.blocks.clone()),
            behind_s: behind_s.unwrap_or(prev.behind_s),
        };
        self.frames.send_replace(Arc::new(frame));
    }

    /// Writes a setting and publishes before returning.
    pub(crate) fn write_point(&self, point: usize, value: f64) -> Result<(), SimError> {
        let mut plant = self.lock();
        plant.write_point(point, value)?;
        self.publish(&plant, None, None);
        Ok(())
    }

    /// Steps to `want_s` (at most `max_advance_s` ahead), renders new blocks and publishes.
    /// Returns the simulated seconds the step fell short by.
    fn advance(&self, want_s: f64, max_advance_s: f64) -> Result<f64, SimError> {
        let prev = self.frame();
        let (specs, short) = {
            let mut plant = self.lock();
            let now = plant.time_s();
            let target = want_s.min(now + max_advance_s).max(now);
            plant.step(target)?;
            let specs: Vec<(usize, BlockSpec)> = (0..self.layout.assets.len())
                .filter_map(|a| {
                    let spec = plant.block(a)?;
                    let published = prev.blocks.get(a).and_then(|b| b.as_ref()).map_or(0, |b| b.seq);
                    (spec.seq != published).then(|| (a, spec.clone()))
                })
                .collect();
            (specs, (want_s - target).max(0.0))
        };
        let mut blocks = prev.blocks.clone();
        for (a, block) in render_all(specs) {
            let block = block.map_err(|source| SimError::Signal { asset: self.layout.assets[a].id.clone(), source })?;
            blocks[a] = Some(Arc::new(block));
        }
        let plant = self.lock();
        self.publish(&plant, Some(blocks), Some(prev.behind_s + short));
        Ok(short)
    }
}

/// Renders blocks on all cores (each block is independent and deterministic).
fn render_all(specs: Vec<(usize, BlockSpec)>) -> Vec<(usize, Result<Block, fos_signal::SignalError>)> {
    let render = |(a, spec): (usize, BlockSpec)| {
        let block = spec.render().map(|samples| Block {
            seq: spec.seq,
            t_end_s: spec.t_end_s,
            fs_hz: spec.fs_hz,
            shaft_hz: spec.shaft_hz,
            samples,
        });
        (a, block)
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(specs.len());
    if threads <= 1 {
        return specs.into_iter().map(render).collect();
    }
    let per = specs.len().div_ceil(threads);
    let mut chunks: Vec<Vec<(usize, BlockSpec)>> = Vec::new();
    let mut it = specs.into_iter().peekable();
    while it.peek().is_some() {
        chunks.push(it.by_ref().take(per).collect());
    }
    std::thread::scope(|s| {
        let handles: Vec<_> =
            chunks.into_iter().map(|c| s.spawn(move || c.into_iter().map(render).collect::<Vec<_>>())).collect();
        // A render never panics (it returns its error); were one to, its blocks are simply published
        // at the next tick, whose sequence check finds them still unpublished.
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    })
}

/// A running simulator: the plant task and its servers. See the module documentation.
pub struct Simulator {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    modbus_addr: Option<SocketAddr>,
    opcua_addr: Option<SocketAddr>,
    opcua_host: Option<String>,
    #[cfg(feature = "opcua")]
    opcua_handle: Option<::opcua::server::ServerHandle>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("modbus_addr", &self.modbus_addr)
            .field("opcua_addr", &self.opcua_addr)
            .field("tasks", &self.tasks.len())
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Starts the plant task and the configured servers. Fails (starting nothing) when an option
    /// is out of range or an address cannot be bound; asking for a server whose feature was not
    /// built is a configuration error.
    pub async fn start(plant: Plant, options: ServeOptions) -> Result<Simulator, SimError> {
        options.validate()?;
        let layout = Arc::new(plant.layout().clone());
        let first = Frame {
            t_s: plant.time_s(),
            wall: SystemTime::now(),
            values: plant.values(),
            blocks: vec![None; layout.assets.len()],
            behind_s: 0.0,
        };
        let (frames, _) = watch::channel(Arc::new(first));
        let shared = Arc::new(Shared { plant: Mutex::new(plant), layout, frames });
        let (stop, _) = watch::channel(false);
        let mut sim = Simulator {
            shared: shared.clone(),
            stop,
            tasks: Vec::new(),
            modbus_addr: None,
            opcua_addr: None,
            opcua_host: None,
            #[cfg(feature = "opcua")]
            opcua_handle: None,
        };
        if let Some(addr) = options.modbus {
            #[cfg(feature = "modbus")]
            {
                let (bound, task) = modbus::start(shared.clone(), addr, sim.stop.subscribe()).await?;
                sim.modbus_addr = Some(bound);
                sim.tasks.push(task);
            }
            #[cfg(not(feature = "modbus"))]
            return Err(SimError::config(
                "modbus",
                format!("{addr}: this build has no Modbus server (feature `modbus`)"),
            ));
        }
        if let Some(o) = &options.opcua {
            #[cfg(feature = "opcua")]
            {
                let started = opcua::start(shared.clone(), o).await?;
                sim.opcua_addr = Some(started.addr);
                sim.opcua_host = Some(started.host);
                sim.opcua_handle = Some(started.handle);
                sim.tasks.push(started.task);
            }
            #[cfg(not(feature = "opcua"))]
            return Err(SimError::config(
                "opcua",
                format!("{}: this build has no OPC UA server (feature `opcua`)", o.addr),
            ));
        }
        sim.tasks.push(tokio::spawn(run_plant(shared, options.speed, options.tick, sim.stop.subscribe())));
        Ok(sim)
    }

    /// The plant's layout (assets, points, addresses).
    pub fn layout(&self) -> &PlantLayout {
        &self.shared.layout
    }

    /// The Modbus server's bound address.
    pub fn modbus_addr(&self) -> Option<SocketAddr> {
        self.modbus_addr
    }

    /// The Modbus server as a FOS device URL, `modbus://ip:port`.
    pub fn modbus_url(&self) -> Option<String> {
        self.modbus_addr.map(|a| format!("modbus://{a}"))
    }

    /// The OPC UA server's bound address.
    pub fn opcua_addr(&self) -> Option<SocketAddr> {
        self.opcua_addr
    }

    /// The OPC UA server's endpoint, `opc.tcp://host:port/`.
    pub fn opcua_endpoint(&self) -> Option<String> {
        Some(format!("opc.tcp://{}:{}/", self.opcua_host.as_ref()?, self.opcua_addr?.port()))
    }

    /// The OPC UA server as a FOS device URL, `opcua://host:port/`.
    pub fn opcua_url(&self) -> Option<String> {
        Some(format!("opcua://{}:{}/", self.opcua_host.as_ref()?, self.opcua_addr?.port()))
    }

    /// The latest frame.
    pub fn frame(&self) -> Arc<Frame> {
        self.shared.frame()
    }

    /// A receiver of the latest frame (published each tick and at each write). It is a `watch`:
    /// a slow reader skips frames; block sequence numbers show what was skipped.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Frame>> {
        self.shared.frames.subscribe()
    }

    /// Writes a setting as a protocol write would, and publishes it.
    pub fn write(&self, asset: &str, point: &str, value: f64) -> Result<(), SimError> {
        let k = {
            let plant = self.shared.lock();
            if plant.layout().asset_index(asset).is_none() {
                return Err(SimError::UnknownAsset { asset: asset.into() });
            }
            plant
                .layout()
                .point(asset, point)
                .ok_or_else(|| SimError::UnknownPoint { asset: asset.into(), point: point.into() })?
        };
        self.shared.write_point(k, value)
    }

    /// Runs `f` on the plant (under its lock: keep it short) — for ground truth and tests.
    pub fn with_plant<R>(&self, f: impl FnOnce(&Plant) -> R) -> R {
        f(&self.shared.lock())
    }

    /// Stops the plant task and the servers and waits for them.
    pub async fn shutdown(mut self) {
        self.signal_stop();
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
    }

    fn signal_stop(&mut self) {
        self.stop.send_replace(true);
        #[cfg(feature = "opcua")]
        if let Some(h) = self.opcua_handle.take() {
            h.cancel();
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.signal_stop();
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Resolves when `stop` says true (or its sender is gone).
pub(crate) async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn run_plant(shared: Arc<Shared>, speed: f64, tick: Duration, stop: watch::Receiver<bool>) {
    let start = tokio::time::Instant::now();
    let t0 = shared.frame().t_s;
    let max_advance = 10.0 * speed * tick.as_secs_f64();
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut behind = 0.0;
    let halt = stopped(stop);
    tokio::pin!(halt);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = &mut halt => break,
        }
        let want = t0 + speed * start.elapsed().as_secs_f64() - behind;
        let s = shared.clone();
        match tokio::task::spawn_blocking(move || s.advance(want, max_advance)).await {
            Ok(Ok(short)) => behind += short,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "the plant simulation stopped");
                break;
            }
            Err(e) => {
                tracing::error!(error = %e, "the plant simulation task failed");
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests;
