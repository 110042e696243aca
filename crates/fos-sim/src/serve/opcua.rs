//! The OPC UA server (async-opcua's server side): the node map of [`crate::layout`] over the
//! published frame.
//!
//! One endpoint, `opc.tcp://host:port/`, SecurityPolicy None, MessageSecurityMode None, anonymous
//! identity (no certificate is needed or made). The standard address space (Objects, Server,
//! operation limits) is async-opcua's generated one; the plant's nodes are in namespace
//! [`OPCUA_NAMESPACE`](crate::layout::OPCUA_NAMESPACE). Every variable is read through a callback
//! from the latest frame, so a Read and a subscription both see the value of the moment, with the
//! frame's wall-clock time as SourceTimestamp. A waveform reads `BadWaitingForInitialData` until
//! the first block. Writes (settings only) take any numeric Variant; a value the plant refuses is
//! `BadOutOfRange`, a non-numeric one `BadTypeMismatch`, an index range `BadWriteNotSupported`.
//!
//! Limits raised for waveforms: arrays up to 2^20 + 1 elements, messages up to 32 MiB in up to
//! 1024 chunks (the client must allow as much to read a block).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ::opcua::nodes::{AccessLevel, VariableBuilder};
use ::opcua::server::node_manager::memory::{simple_node_manager, SimpleNodeManager};
use ::opcua::server::{diagnostics::NamespaceMetadata, ServerBuilder, ServerHandle};
use ::opcua::types::{DataTypeId, DataValue, DateTime, NodeId, NumericRange, StatusCode, Variant};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::{OpcUaOptions, Shared};
use crate::error::SimError;
use crate::layout::{PointType, OPCUA_NAMESPACE};

/// A started server.
pub(crate) struct Started {
    pub(crate) addr: SocketAddr,
    pub(crate) host: String,
    pub(crate) handle: ServerHandle,
    pub(crate) task: JoinHandle<()>,
}

/// OPC UA DateTime ticks (100 ns since 1601-01-01) of a wall-clock time.
fn ua_time(t: SystemTime) -> DateTime {
    const EPOCH_DIFF_TICKS: i64 = 116_444_736_000_000_000;
    let ticks = t
        .duration_since(UNIX_EPOCH)
        .map(|d| EPOCH_DIFF_TICKS + (d.as_nanos() / 100).min(i64::MAX as u128 / 2) as i64)
        .unwrap_or(EPOCH_DIFF_TICKS);
    DateTime::from(ticks)
}

fn variant_of(ty: PointType, v: f64) -> Variant {
    match ty {
        PointType::F32 => Variant::Double(v),
        PointType::U32 => Variant::UInt32(v.clamp(0.0, u32::MAX as f64) as u32),
        PointType::U16 => Variant::UInt16(v.clamp(0.0, u16::MAX as f64) as u16),
        PointType::Waveform => Variant::Empty,
    }
}

fn data_type(ty: PointType) -> DataTypeId {
    match ty {
        PointType::F32 | PointType::Waveform => DataTypeId::Double,
        PointType::U32 => DataTypeId::UInt32,
        PointType::U16 => DataTypeId::UInt16,
    }
}

fn numeric(v: &Variant) -> Option<f64> {
    Some(match *v {
        Variant::Double(x) => x,
        Variant::Float(x) => f64::from(x),
        Variant::SByte(x) => f64::from(x),
        Variant::Byte(x) => f64::from(x),
        Variant::Int16(x) => f64::from(x),
        Variant::UInt16(x) => f64::from(x),
        Variant::Int32(x) => f64::from(x),
        Variant::UInt32(x) => f64::from(x),
        Variant::Int64(x) => x as f64,
        Variant::UInt64(x) => x as f64,
        _ => return None,
    })
}

/// Binds, builds the address space and spawns the server.
pub(crate) async fn start(shared: Arc<Shared>, o: &OpcUaOptions) -> Result<Started, SimError> {
    let bind_err = |source| SimError::Bind { server: "opcua", addr: o.addr.to_string(), source };
    let listener = TcpListener::bind(o.addr).await.map_err(bind_err)?;
    let addr = listener.local_addr().map_err(bind_err)?;
    let host = o.host.clone().unwrap_or_else(|| addr.ip().to_string());
    let max_array = (1usize << 20) + 1;
    let (server, handle) = ServerBuilder::new_anonymous("FOS plant simulator")
        .application_uri("urn:fos:sim:server")
        .product_uri("urn:fos:sim")
        .host(host.clone())
        .port(addr.port())
        .discovery_urls(vec![format!("opc.tcp://{host}:{}/", addr.port())])
        .pki_dir(o.pki_dir.clone())
        .create_sample_keypair(false)
        .max_array_length(max_array)
        .max_message_size(32 << 20)
        .max_chunk_count(1024)
        .with_node_manager(simple_node_manager(
            NamespaceMetadata { namespace_uri: OPCUA_NAMESPACE.into(), ..Default::default() },
            "fos-sim",
        ))
        .build()
        .map_err(SimError::OpcUa)?;
    let manager = handle
        .node_managers()
        .get_of_type::<SimpleNodeManager>()
        .ok_or_else(|| SimError::OpcUa("the simple node manager is missing".into()))?;
    let ns = handle
        .get_namespace_index(OPCUA_NAMESPACE)
        .ok_or_else(|| SimError::OpcUa(format!("namespace {OPCUA_NAMESPACE} was not registered")))?;
    populate(&manager, ns, &shared);
    let task = tokio::spawn(async move {
        if let Err(e) = server.run_with(listener).await {
            tracing::error!(error = %e, "the OPC UA server stopped");
        }
    });
    Ok(Started { addr, host, handle, task })
}

fn populate(manager: &SimpleNodeManager, ns: u16, shared: &Arc<Shared>) {
    let layout = shared.layout.clone();
    let frame = shared.frame();
    {
        let mut space = manager.address_space().write();
        let site = NodeId::new(ns, layout.site.clone());
        space.add_folder(&site, layout.site.as_str(), layout.site.as_str(), &NodeId::objects_folder_id());
        for (line, assets) in layout.lines() {
            let line_id = NodeId::new(ns, format!("{}/{line}", layout.site));
            space.add_folder(&line_id, line.as_str(), line.as_str(), &site);
            for a in assets {
                let info = &layout.assets[a];
                let asset_id = NodeId::new(ns, info.id.clone());
                space.add_folder(&asset_id, info.id.as_str(), info.id.as_str(), &line_id);
                for k in info.points.clone() {
                    let p = &layout.points[k];
                    let id = NodeId::new(ns, layout.node_name(k));
                    let access = if p.spec.writable {
                        AccessLevel::CURRENT_READ | AccessLevel::CURRENT_WRITE
                    } else {
                        AccessLevel::CURRENT_READ
                    };
                    let mut b = VariableBuilder::new(&id, p.spec.name.as_str(), p.spec.name.as_str())
                        .data_type(data_type(p.spec.ty))
                        .access_level(access)
                        .user_access_level(access)
                        .organized_by(asset_id.clone());
                    b = if p.spec.ty == PointType::Waveform {
                        b.value_rank(1).array_dimensions(&[0]).value(Variant::from(Vec::<f64>::new()))
                    } else {
                        b.value_rank(-1).value(variant_of(p.spec.ty, frame.values[k]))
                    };
                    b.insert(&mut *space);
                }
            }
        }
    }
    let inner = manager.inner();
    for (k, p) in layout.points.iter().enumerate() {
        let id = NodeId::new(ns, layout.node_name(k));
        let ty = p.spec.ty;
        let asset = p.asset;
        let s = shared.clone();
        inner.add_read_callback(id.clone(), move |range, _, _| {
            let f = s.frame();
            let now = DateTime::now();
            let value = if ty == PointType::Waveform {
                match f.blocks.get(asset).and_then(|b| b.as_ref()) {
                    Some(b) => Variant::from(b.samples.clone()),
                    None => {
                        return Ok(DataValue {
                            value: None,
                            status: Some(StatusCode::BadWaitingForInitialData),
                            source_timestamp: Some(ua_time(f.wall)),
                            server_timestamp: Some(now),
                            ..Default::default()
                        })
                    }
                }
            } else {
                variant_of(ty, f.values.get(k).copied().unwrap_or(0.0))
            };
            let value = value.range_of_owned(range)?;
            Ok(DataValue {
                value: Some(value),
                status: Some(StatusCode::Good),
                source_timestamp: Some(ua_time(f.wall)),
                server_timestamp: Some(now),
                ..Default::default()
            })
        });
        if p.spec.writable {
            let s = shared.clone();
            inner.add_write_callback(id, move |dv: DataValue, range: &NumericRange| {
                if !matches!(range, NumericRange::None) {
                    return StatusCode::BadWriteNotSupported;
                }
                let Some(v) = dv.value.as_ref().and_then(numeric) else {
                    return StatusCode::BadTypeMismatch;
                };
                match s.write_point(k, v) {
                    Ok(()) => StatusCode::Good,
                    Err(SimError::BadValue { .. }) => StatusCode::BadOutOfRange,
                    Err(_) => StatusCode::BadNotWritable,
                }
            });
        }
    }
}

#[cfg(test)]
mod tests;
