//! Replays the fuzz corpus (`fuzz/corpus/**`) and saved crashes (`fuzz/regressions/**`) through
//! the parsers on stable Rust: every input must give a result (Ok or Err), never a panic.
//!
//! With `FOS_WRITE_FUZZ_CORPUS=1` it first (re)writes the seed corpus from the test MAT writer.

mod common;

use fos_io::{Manifest, MatFile};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn replay_mat(bytes: &[u8]) {
    if let Ok(m) = MatFile::parse(bytes, Path::new("corpus.mat")) {
        for name in m.names() {
            let _ = m.get(&name);
            let _ = m.get(&format!("{name}.accel"));
        }
        let _ = m.get("rec.meta.gain");
    }
}

fn replay_manifest(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let bearings = "id,elements,element_diameter,pitch_diameter,contact_angle_deg,unit\n6205,9,0.3126,1.537,0,in\n";
    let (manifest, bearings) = text.split_once('\0').unwrap_or((text, bearings));
    if let Ok(m) = Manifest::parse_str(manifest, bearings, Path::new("/fuzz/manifest.csv")) {
        let _ = m.check_self();
    }
}

fn write_seed_corpus() {
    let mat = fuzz_dir().join("corpus/mat_parse");
    std::fs::create_dir_all(&mat).unwrap();
    for (name, bytes) in common::sample_files() {
        assert!(bytes.len() < 4096, "{name} is {} bytes", bytes.len());
        std::fs::write(mat.join(format!("{name}.mat")), &bytes).unwrap();
        for (i, cut) in [bytes.len() / 3, bytes.len() - 5].into_iter().enumerate() {
            std::fs::write(mat.join(format!("{name}_cut{i}.mat")), &bytes[..cut]).unwrap();
        }
    }
    let man = fuzz_dir().join("corpus/manifest_parse");
    std::fs::create_dir_all(&man).unwrap();
    let h = "path,signal,fs_hz,shaft_hz,bearing,machine,bearing_id,label,role,start_s,end_s,load\n";
    std::fs::write(man.join("ok.csv"), format!("{h}a.mat,X1,12000,30,6205,rig,B1,inner,train,,,0hp\nb.mat,X2,12000,30,6205,rig,B2,inner,test,0,1.5,\n")).unwrap();
    std::fs::write(man.join("leak.csv"), format!("{h}a.mat,X1,12000,30,6205,rig,B1,inner,train,0,2,\na.mat,X1,12000,30,6205,rig,B1,inner,test,1,,\n")).unwrap();
    std::fs::write(man.join("with_bearings.csv"), format!("{h}a.mat,X1,1,1,b,m,i,normal,baseline,,,\n\0id,elements,element_diameter,pitch_diameter,contact_angle_deg,unit\nb,9,1,5,10,mm\n")).unwrap();
}

#[test]
fn corpus_replays_without_panic() {
    if std::env::var_os("FOS_WRITE_FUZZ_CORPUS").is_some() {
        write_seed_corpus();
    }
    let mut n = 0;
    for (target, replay) in [
        ("mat_parse", replay_mat as fn(&[u8])),
        ("manifest_parse", replay_manifest),
    ] {
        let mut files = Vec::new();
        files_under(&fuzz_dir().join("corpus").join(target), &mut files);
        files_under(&fuzz_dir().join("regressions").join(target), &mut files);
        for f in files {
            replay(&std::fs::read(&f).unwrap());
            n += 1;
        }
    }
    // The seed corpus is part of the repository: replaying nothing means it went missing.
    assert!(
        n >= 10,
        "only {n} corpus files under {}",
        fuzz_dir().display()
    );
}
