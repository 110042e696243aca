//! The Modbus TCP server (tokio-modbus's server side): the register map of
//! [`crate::layout`] over the published frame.
//!
//! Function codes: 0x03 Read Holding Registers, 0x04 Read Input Registers (1–125 registers),
//! 0x06 Write Single Register, 0x10 Write Multiple Registers (1–123). Anything else is exception
//! 0x01 Illegal Function. Reads past the last asset's window are 0x02 Illegal Data Address; a
//! quantity out of range is 0x03 Illegal Data Value. Writes must cover whole writable points (0x02
//! otherwise); a value the plant refuses is 0x03. A multi-point write is applied point by point in
//! address order: if a later point is refused, the earlier ones stay written. Every unit id is
//! answered.

use std::future::{ready, Ready};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_modbus::server::tcp::Server;
use tokio_modbus::{ExceptionCode, Request, Response};

use super::{stopped, Frame, Shared};
use crate::error::SimError;
use crate::layout::{PointType, Table, MODBUS_STRIDE};

/// Register → (point index, word within the point) for one table.
#[derive(Debug)]
struct TableMap {
    regs: Vec<Option<(u32, u8)>>,
}

#[derive(Debug)]
struct RegisterMap {
    input: TableMap,
    holding: TableMap,
    types: Vec<PointType>,
}

impl RegisterMap {
    fn new(shared: &Shared) -> RegisterMap {
        let end = shared.layout.assets.len() * MODBUS_STRIDE;
        let mut input = TableMap { regs: vec![None; end] };
        let mut holding = TableMap { regs: vec![None; end] };
        for (k, p) in shared.layout.points.iter().enumerate() {
            if let Some(m) = p.modbus {
                let t = match m.table {
                    Table::Input => &mut input,
                    Table::Holding => &mut holding,
                };
                for w in 0..p.spec.ty.words() {
                    t.regs[m.address as usize + w] = Some((k as u32, w as u8));
                }
            }
        }
        let types = shared.layout.points.iter().map(|p| p.spec.ty).collect();
        RegisterMap { input, holding, types }
    }
}

/// The words of a value of type `ty`, most significant first.
fn encode(ty: PointType, v: f64) -> [u16; 2] {
    match ty {
        PointType::F32 => {
            let b = (v as f32).to_bits();
            [(b >> 16) as u16, b as u16]
        }
        PointType::U32 => {
            let b = v.clamp(0.0, u32::MAX as f64) as u32;
            [(b >> 16) as u16, b as u16]
        }
        PointType::U16 => [v.clamp(0.0, u16::MAX as f64) as u16, 0],
        PointType::Waveform => [0, 0],
    }
}

fn decode(ty: PointType, words: &[u16]) -> f64 {
    match (ty, words) {
        (PointType::F32, [hi, lo]) => f64::from(f32::from_bits((u32::from(*hi) << 16) | u32::from(*lo))),
        (PointType::U32, [hi, lo]) => f64::from((u32::from(*hi) << 16) | u32::from(*lo)),
        (PointType::U16, [w]) => f64::from(*w),
        _ => f64::NAN,
    }
}

#[derive(Debug, Clone)]
struct Service {
    shared: Arc<Shared>,
    map: Arc<RegisterMap>,
}

impl Service {
    fn read(&self, table: &TableMap, addr: u16, qty: u16) -> Result<Vec<u16>, ExceptionCode> {
        if !(1..=125).contains(&qty) {
            return Err(ExceptionCode::IllegalDataValue);
        }
        let (start, end) = (addr as usize, addr as usize + qty as usize);
        if end > table.regs.len() {
            return Err(ExceptionCode::IllegalDataAddress);
        }
        let frame: Arc<Frame> = self.shared.frame();
        Ok(table.regs[start..end]
            .iter()
            .map(|r| {
                r.map_or(0, |(k, w)| {
                    let k = k as usize;
                    encode(self.map.types[k], frame.values.get(k).copied().unwrap_or(0.0))[w as usize]
                })
            })
            .collect())
    }

    fn write(&self, addr: u16, words: &[u16]) -> Result<(), ExceptionCode> {
        if words.is_empty() || words.len() > 123 {
            return Err(ExceptionCode::IllegalDataValue);
        }
        let regs = &self.map.holding.regs;
        let start = addr as usize;
        if start + words.len() > regs.len() {
            return Err(ExceptionCode::IllegalDataAddress);
        }
        // Split into whole points first; refuse before writing anything when the span is not.
        let mut writes = Vec::new();
        let mut i = 0;
        while i < words.len() {
            let Some((k, 0)) = regs[start + i] else {
                return Err(ExceptionCode::IllegalDataAddress);
            };
            let ty = self.map.types[k as usize];
            let n = ty.words();
            if i + n > words.len() {
                return Err(ExceptionCode::IllegalDataAddress);
            }
            writes.push((k as usize, decode(ty, &words[i..i + n])));
            i += n;
        }
        for (k, v) in writes {
            self.shared.write_point(k, v).map_err(|e| match e {
                SimError::BadValue { .. } => ExceptionCode::IllegalDataValue,
                _ => ExceptionCode::IllegalDataAddress,
            })?;
        }
        Ok(())
    }
}

impl tokio_modbus::server::Service for Service {
    type Request = Request<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Ready<Result<Response, ExceptionCode>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        ready(match req {
            Request::ReadInputRegisters(a, q) => self.read(&self.map.input, a, q).map(Response::ReadInputRegisters),
            Request::ReadHoldingRegisters(a, q) => {
                self.read(&self.map.holding, a, q).map(Response::ReadHoldingRegisters)
            }
            Request::WriteSingleRegister(a, w) => self.write(a, &[w]).map(|()| Response::WriteSingleRegister(a, w)),
            Request::WriteMultipleRegisters(a, words) => {
                let n = words.len() as u16;
                self.write(a, &words).map(|()| Response::WriteMultipleRegisters(a, n))
            }
            _ => Err(ExceptionCode::IllegalFunction),
        })
    }
}

/// Binds `addr` and serves until `stop` turns true. Returns the bound address and the task.
pub(crate) async fn start(
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: watch::Receiver<bool>,
) -> Result<(SocketAddr, JoinHandle<()>), SimError> {
    let bind_err = |source: io::Error| SimError::Bind { server: "modbus", addr: addr.to_string(), source };
    let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
    let bound = listener.local_addr().map_err(bind_err)?;
    let service = Service { map: Arc::new(RegisterMap::new(&shared)), shared };
    let task = tokio::spawn(async move {
        let server = Server::new(listener);
        let on_connected = |stream: TcpStream, _peer: SocketAddr| {
            let s = service.clone();
            async move { Ok::<_, io::Error>(Some((s, stream))) }
        };
        let on_error = |e: io::Error| tracing::debug!(error = %e, "modbus connection ended");
        if let Err(e) = server.serve_until(&on_connected, on_error, stopped(stop)).await {
            tracing::error!(error = %e, "the modbus server stopped");
        }
    });
    Ok((bound, task))
}

#[cfg(test)]
mod tests;
