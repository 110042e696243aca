//! Tests of scenario files: the documented example parses, mistakes are named.

use super::*;

/// The TOML of the module documentation.
fn documented_example() -> String {
    let doc = include_str!("../scenario.rs");
    let start = doc.find("//! ```toml").unwrap();
    let end = start + doc[start..].find("//! ```\n").unwrap();
    doc[start..end]
        .lines()
        .skip(1)
        .map(|l| l.trim_start_matches("//!").trim_start_matches(' '))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_documented_example_parses() {
    let s = Scenario::from_toml(&documented_example(), "doc").unwrap();
    let kinds: Vec<&str> = s.events.iter().map(Event::kind).collect();
    assert_eq!(
        kinds,
        ["bearing_fault", "humidity_spike", "temperature_step", "torch_degrade", "tool_wear", "knock", "speed", "load"]
    );
    assert_eq!(
        s.events[0],
        Event::BearingFault {
            at_s: 30.0,
            asset: "motor-02".into(),
            fault: FaultName::Outer,
            initial: 0.05,
            doubling_s: 40.0,
            max: 1.0
        }
    );
    // Defaults fill what is left out.
    let s =
        Scenario::from_toml("[[event]]\nkind = \"bearing_fault\"\nat_s = 5\nasset = \"m\"\nfault = \"inner\"\n", "x")
            .unwrap();
    assert_eq!(
        s.events[0],
        Event::BearingFault {
            at_s: 5.0,
            asset: "m".into(),
            fault: FaultName::Inner,
            initial: 0.05,
            doubling_s: 40.0,
            max: 1.0
        }
    );
}

#[test]
fn mistakes_are_named() {
    let err = |text: &str| Scenario::from_toml(text, "plant.toml").unwrap_err().to_string();
    let e = err("[[event]]\nkind = \"bearing_fault\"\nat_s = 5\nasset = \"m\"\nfault = \"outer\"\nsize = 3\n");
    assert!(e.contains("plant.toml") && e.contains("size"), "{e}");
    let e = err("[[event]]\nkind = \"earthquake\"\nat_s = 5\n");
    assert!(e.contains("earthquake"), "{e}");
    let e = err("[[event]]\nkind = \"load\"\nat_s = 5\nasset = \"m\"\nfraction = 3\n");
    assert!(e.contains("event 1 (load)") && e.contains("fraction"), "{e}");
    let e = err("[[event]]\nkind = \"knock\"\nat_s = -1\nasset = \"m\"\n");
    assert!(e.contains("at_s"), "{e}");
    let e = err("[[event]]\nkind = \"tool_wear\"\nat_s = 1\nasset = \"c\"\n");
    assert!(e.contains("vb_mm, rate"), "{e}");
    let e = err("[[events]]\nkind = \"knock\"\n");
    assert!(e.contains("events"), "{e}");
}

#[test]
fn the_demo_uses_the_assets_there_are() {
    let t = |motors: usize, cells: usize, torches: usize| ScenarioTargets {
        motors: (1..=motors).map(|i| format!("motor-{i:02}")).collect(),
        cnc_mills: vec!["cnc-01".into()],
        weld_cells: (1..=cells).map(|i| format!("weld-{i:02}")).collect(),
        torches_per_cell: torches,
    };
    let full = Scenario::demo(&t(4, 1, 3));
    assert_eq!(full.events.len(), 4);
    assert_eq!(full.events[0].asset(), Some("motor-02"));
    assert!(matches!(full.events[1], Event::TorchDegrade { torch: 2, .. }));
    let small = Scenario::demo(&t(1, 0, 1));
    let kinds: Vec<&str> = small.events.iter().map(Event::kind).collect();
    assert_eq!(kinds, ["bearing_fault", "humidity_spike"]);
    assert_eq!(small.events[0].asset(), Some("motor-01"));
    assert!(matches!(Scenario::demo(&t(2, 1, 1)).events[1], Event::TorchDegrade { torch: 1, .. }));
    assert!(full.check().is_ok());
}
