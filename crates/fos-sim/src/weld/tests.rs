//! Tests of the welding cell: the cycle, tip wear and arc stability, and the assignment registers.

use super::*;

fn cell(seed: u64) -> WeldCell {
    let mut rng = Rng::new(seed);
    WeldCell::new(WeldParams::sample(3, 3, &mut rng), seed)
}

fn run(c: &mut WeldCell, from_s: f64, to_s: f64) {
    let n = ((to_s - from_s) / 0.1).round() as usize;
    for i in 1..=n {
        c.step(from_s + i as f64 * 0.1, 0.1);
    }
}

#[test]
fn a_cycle_runs_every_weld_once_in_parallel() {
    let mut c = cell(1);
    assert_eq!(c.programmed(), &[0, 1, 2, 0, 1, 2, 0, 1, 2]);
    // Longest torch: its welds plus a 3 s reposition each, then 10 s load/unload.
    let per_torch: Vec<f64> =
        (0..3).map(|k| (0..9).filter(|w| w % 3 == k).map(|w| c.params().weld_s[w] + 3.0).sum()).collect();
    let expected = per_torch.iter().cloned().fold(0.0, f64::max) + 10.0;
    run(&mut c, 0.0, expected + 1.0);
    assert_eq!(c.cycles(), 1);
    // New tips take 1/0.9999… as long; the cycle time is within one tick of the plan.
    assert!((c.last_cycle_s() - expected).abs() < 0.2, "{} vs {expected}", c.last_cycle_s());
    assert!(c.torches().iter().all(|t| t.welds == 3));
    let t = &c.torches()[0];
    assert!(t.spatter_index > 0.04 && t.spatter_index < 0.07, "{t:?}");
}

#[test]
fn a_degrading_tip_makes_the_arc_unstable() {
    let mut c = cell(2);
    c.set_wear_rate(1, 200.0);
    let mut ripple = [Vec::new(), Vec::new()];
    for s in 1..=1200 {
        run(&mut c, (s - 1) as f64, s as f64);
        for (k, r) in ripple.iter_mut().enumerate() {
            if c.torches()[k].arc_on {
                r.push((c.torches()[k].current_ripple_pct, c.torches()[k].current_a));
            }
        }
    }
    let worn = &c.torches()[1];
    assert!(worn.wear > 0.5, "wear {}", worn.wear);
    assert!(c.torches()[0].wear < 0.05, "{}", c.torches()[0].wear);
    let late = |v: &Vec<(f64, f64)>| v[v.len() - 20..].iter().map(|x| x.0).sum::<f64>() / 20.0;
    assert!(late(&ripple[1]) > 2.0 * late(&ripple[0]), "{} vs {}", late(&ripple[1]), late(&ripple[0]));
    assert!(worn.spatter_index > 3.0 * c.torches()[0].spatter_index);
    assert!(worn.health() < 0.8);
    // The worn torch welds slower: fewer welds done than its healthy neighbour (same count of welds).
    assert!(worn.welds <= c.torches()[0].welds);
}

#[test]
fn reassigned_welds_move_at_the_next_cycle() {
    let mut c = cell(3);
    run(&mut c, 0.0, 5.0);
    // Move torch 2's welds (2, 5, 8 → 0-based 1, 4, 7) to torch 1 and 3.
    c.program(1, 0);
    c.program(4, 2);
    c.program(7, 0);
    assert_eq!(c.programmed(), &[0, 0, 2, 0, 2, 2, 0, 0, 2]);
    assert_eq!(c.active_assignment(), &[0, 1, 2, 0, 1, 2, 0, 1, 2], "the running cycle keeps its program");
    run(&mut c, 5.0, 400.0);
    assert!(c.cycles() >= 2);
    let torch2 = c.torches()[1].welds;
    run(&mut c, 400.0, 800.0);
    assert_eq!(c.torches()[1].welds, torch2, "torch 2 has no welds any more");
    assert!(!c.torches()[1].arc_on && c.torches()[1].current_a == 0.0);
    assert_eq!(c.active_assignment(), c.programmed());
}
