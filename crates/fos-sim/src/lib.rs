//! The demo plant: machines driven by physics, served through the protocols FOS's drivers speak.
//!
//! - Pure core (no I/O, no clock; time is an argument), deterministic from a seed:
//!   [`plant`] (the site, its lines and assets, stepped in fixed ticks), [`motor`] (drives, loads,
//!   bearings whose defects grow, vibration blocks through [`fos_signal::synth`]), [`cnc`] (tool
//!   wear by Taylor's law, spindle thermal growth, the length-wear offset register), [`weld`]
//!   (contact-tip wear, arc stability, the weld-to-torch assignment registers), [`ambient`]
//!   (temperature, dew point and humidity), [`scenario`] (scripted events, TOML or the built-in
//!   demo) and [`layout`] (every point's Modbus register and OPC UA node).
//! - Adapter: [`serve`] runs a plant at `speed` × real time in a tokio task and serves it over
//!   Modbus TCP (feature `modbus`) and OPC UA (feature `opcua`); writes from clients land in the
//!   plant. Ground truth (defect severity, flank wear, tip wear) is only reachable through this
//!   crate's API, never over the protocols.
//!
//! Architecture invariant: only [`serve`] does I/O or knows a clock or a protocol.
//!
//! ```
//! use fos_sim::Plant;
//!
//! let mut plant = Plant::demo(7)?;
//! plant.step(180.0)?; // three simulated minutes, in 0.1 s ticks
//! // The outer-race defect of the demo scenario has grown on motor-02...
//! let m = plant.motor("motor-02").unwrap();
//! assert!(m.severity() > 0.3);
//! // ...and its latest vibration block renders to 1 s at 12.8 kHz.
//! let block = m.block().unwrap();
//! assert_eq!(block.render()?.len(), 12_800);
//! // Process values by name, as the protocol servers publish them.
//! let offset = plant.value("cnc-01", "tool_offset_mm")?;
//! plant.write("cnc-01", "tool_offset_mm", offset - 0.01)?;
//! assert!((plant.value("cnc-01", "tool_offset_mm")? - (offset - 0.01)).abs() < 1e-12);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod ambient;
pub mod cnc;
mod error;
pub mod layout;
pub mod motor;
pub mod plant;
pub mod scenario;
pub mod serve;
#[cfg(test)]
mod testutil;
pub mod weld;

pub use error::SimError;
pub use layout::{AssetInfo, AssetKind, PlantLayout, PointInfo, PointType};
pub use plant::{Plant, PlantConfig};
pub use scenario::{Event, Scenario};
