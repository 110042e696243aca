//! `fos synth`: writes a synthetic bearing test rig to a folder, as a user would bring one: WAV and
//! CSV recordings at two sample rates, a `bearings.csv` with another bearing than CWRU's, and a
//! manifest split by physical specimen.
//!
//! The rig differs from CWRU on purpose (bearing geometry, shaft speed and its error, sample rates,
//! resonances, file formats), and it carries what CWRU lacks: a long healthy run with ordinary knocks,
//! to measure false alarms per healthy hour. Every recording comes from `fos_signal::synth`, a physical
//! model (impulse trains at the fault frequencies through structural resonances, slip, speed error,
//! shaft harmonics, noise), never from a real data set.

use anyhow::{Context, Result};
use clap::Args;
use fos_core::BearingGeometry;
use fos_signal::kinematics::FaultKind;
use fos_signal::synth::{simulate, BearingSimConfig};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Flags of `fos synth`.
#[derive(Debug, Args)]
pub(crate) struct SynthArgs {
    /// Folder to write into (created if missing).
    out: PathBuf,
    /// Length of the long healthy run with knocks, seconds.
    #[arg(long, default_value_t = 600.0)]
    healthy_seconds: f64,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// The synthetic rig's bearing: a 6206-like deep-groove ball bearing, in millimetres.
pub(crate) const GEOMETRY: BearingGeometry =
    BearingGeometry { elements: 9, element_d: 9.525, pitch_d: 46.0, contact_angle_deg: 0.0 };

struct Spec {
    name: &'static str,
    fault: Option<FaultKind>,
    label: &'static str,
    role: &'static str,
    specimen: &'static str,
    fs: f64,
    duration: f64,
    speed_error: f64,
    resonance: f64,
    amplitude: f64,
    format: &'static str,
}

fn specs(healthy_seconds: f64) -> Vec<Spec> {
    let s = |name, fault, label, role, specimen, fs, duration, speed_error, resonance, amplitude, format| Spec {
        name, fault, label, role, specimen, fs, duration, speed_error, resonance, amplitude, format,
    };
    vec![
        s("healthy_commissioning", None, "normal", "baseline", "N-1", 51_200.0, 10.0, 0.01, 5_200.0, 0.0, "wav"),
        s("healthy_long_run_knocks", None, "normal", "test", "N-1", 51_200.0, healthy_seconds, 0.02, 5_200.0, 0.0, "wav"),
        s("outer_A", Some(FaultKind::Outer), "outer", "train", "OR-A", 25_600.0, 10.0, 0.02, 4_300.0, 0.5, "wav"),
        s("inner_A", Some(FaultKind::Inner), "inner", "train", "IR-A", 25_600.0, 10.0, -0.01, 6_100.0, 0.6, "csv"),
        s("ball_A", Some(FaultKind::Ball), "ball", "train", "B-A", 25_600.0, 10.0, 0.03, 7_400.0, 0.5, "wav"),
        s("outer_B", Some(FaultKind::Outer), "outer", "test", "OR-B", 25_600.0, 10.0, -0.03, 8_200.0, 0.25, "csv"),
        s("inner_B", Some(FaultKind::Inner), "inner", "test", "IR-B", 25_600.0, 10.0, 0.025, 3_600.0, 0.35, "wav"),
        s("ball_B", Some(FaultKind::Ball), "ball", "test", "B-B", 25_600.0, 10.0, -0.02, 5_900.0, 0.3, "wav"),
        s("outer_C", Some(FaultKind::Outer), "outer", "test", "OR-C", 25_600.0, 10.0, 0.04, 9_800.0, 0.2, "wav"),
        s("inner_C", Some(FaultKind::Inner), "inner", "test", "IR-C", 25_600.0, 10.0, -0.04, 2_900.0, 0.3, "csv"),
    ]
}

/// The nominal shaft speed of the rig, Hz (1440 rpm).
pub(crate) const SHAFT_HZ: f64 = 24.0;

pub(crate) fn run(a: SynthArgs) -> Result<ExitCode> {
    write_rig(&a.out, a.healthy_seconds, a.seed)?;
    eprintln!("wrote a synthetic rig to {} (manifest.csv, bearings.csv)", a.out.display());
    Ok(ExitCode::SUCCESS)
}

/// Writes the rig; returns the manifest path.
pub(crate) fn write_rig(out: &Path, healthy_seconds: f64, seed: u64) -> Result<PathBuf> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    std::fs::write(
        out.join("bearings.csv"),
        format!(
            "id,elements,element_diameter,pitch_diameter,contact_angle_deg,unit\n6206-synth,{},{},{},{},mm\n",
            GEOMETRY.elements, GEOMETRY.element_d, GEOMETRY.pitch_d, GEOMETRY.contact_angle_deg
        ),
    )?;
    let mut manifest = String::from("path,signal,fs_hz,shaft_hz,bearing,machine,bearing_id,label,role,start_s,end_s,load\n");
    let list = specs(healthy_seconds);
    let pb = crate::job::progress(list.len() as u64, "simulating");
    for (i, s) in list.iter().enumerate() {
        let knocks: Vec<(f64, f64)> = if s.fault.is_none() && s.role == "test" {
            // An ordinary knock every 20 s on average (a tool set down, a door), 15x the noise level.
            let mut t = 7.3;
            let mut k = Vec::new();
            let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            while t < s.duration - 0.5 {
                k.push((t, 1.5));
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                t += 5.0 + 30.0 * (state % 1000) as f64 / 1000.0;
            }
            k
        } else {
            Vec::new()
        };
        let cfg = BearingSimConfig {
            fs: s.fs,
            duration_s: s.duration,
            shaft_hz: SHAFT_HZ,
            geometry: GEOMETRY,
            fault: s.fault.map(|f| (f, s.amplitude)),
            resonance_hz: s.resonance,
            damping_ratio: 0.04,
            extra_modes: Vec::new(),
            slip: 0.01,
            speed_error: s.speed_error,
            noise_rms: 0.1,
            shaft_harmonics: vec![0.2, 0.08, 0.05],
            knocks,
            seed: seed.wrapping_add(i as u64 * 7919),
        };
        let x = simulate(&cfg).with_context(|| format!("simulating {}", s.name))?;
        let file = format!("{}.{}", s.name, s.format);
        let signal = match s.format {
            "wav" => {
                write_wav(&out.join(&file), &x, s.fs)?;
                "0".to_string()
            }
            _ => {
                write_csv(&out.join(&file), &x, s.fs)?;
                "accel_g".to_string()
            }
        };
        manifest.push_str(&format!(
            "{file},{signal},{},{SHAFT_HZ},6206-synth,synth-rig,{},{},{},,,\n",
            s.fs, s.specimen, s.label, s.role
        ));
        pb.inc(1);
    }
    pb.finish_and_clear();
    let mp = out.join("manifest.csv");
    std::fs::write(&mp, manifest)?;
    Ok(mp)
}

fn write_wav(path: &Path, x: &[f64], fs: f64) -> Result<()> {
    let spec = hound::WavSpec { channels: 1, sample_rate: fs as u32, bits_per_sample: 32, sample_format: hound::SampleFormat::Float };
    let mut w = hound::WavWriter::create(path, spec).with_context(|| format!("creating {}", path.display()))?;
    for v in x {
        w.write_sample(*v as f32)?;
    }
    w.finalize()?;
    Ok(())
}

fn write_csv(path: &Path, x: &[f64], fs: f64) -> Result<()> {
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = std::io::BufWriter::new(f);
    writeln!(w, "time_s,accel_g")?;
    for (i, v) in x.iter().enumerate() {
        writeln!(w, "{:.7},{:.6}", i as f64 / fs, v)?;
    }
    w.flush()?;
    Ok(())
}
